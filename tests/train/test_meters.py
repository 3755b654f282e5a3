"""Training per meter (issue 16 item 3): the saved model's grid follows the meter it trained on."""

from __future__ import annotations

import numpy as np
import pytest

from clsm_cli.checkpoint import load_model
from clsm_cli.constants import HOLD_TOKEN
from clsm_cli.errors import InputFileError
from clsm_cli.train import data as training_data
from clsm_cli.train.loop import TrainOptions, train


def meter_windows(count: int, window_steps: int, steps_per_bar: int, seed: int) -> np.ndarray:
    """(count, window_steps) uint8: one note per beat-ish step pattern, a new pitch each bar."""
    rng = np.random.default_rng(seed)
    windows = np.full((count, window_steps), HOLD_TOKEN, dtype=np.uint8)
    for row in range(count):
        for bar_start in range(0, window_steps, steps_per_bar):
            windows[row, bar_start] = rng.integers(0, 30)
            windows[row, bar_start + steps_per_bar // 2] = rng.integers(0, 30)
    return windows


@pytest.fixture
def meter_splits(monkeypatch):
    """The data layer's meter groups, as arrays (the per-meter folder layout belongs to data/)."""
    opened = []

    def fake_open(data_dir, split, meter_group):
        opened.append((split, meter_group))
        steps_per_bar = {"3/4": 12, "2/4": 8, "4/4": 16}[meter_group]
        count = 32 if split.startswith("train") else 8
        return meter_windows(count, 8 * steps_per_bar, steps_per_bar, seed=len(opened))

    monkeypatch.setattr(training_data, "open_meter_split", fake_open)
    return opened


@pytest.mark.parametrize("kind", ["clsm", "vae", "arnn", "arnn-t", "lm"])
@pytest.mark.parametrize("group, steps_per_bar", [("3/4", 12), ("2/4", 8)])
def test_every_kind_trains_on_another_meter_and_records_its_grid(kind, group, steps_per_bar, meter_splits, tiny_data, tmp_path):
    numerator, denominator = (int(part) for part in group.split("/"))
    options = TrainOptions(
        kind=kind, data_dir=tiny_data, out=str(tmp_path / "m"), preset="tiny", batch_size=8, max_steps=2,
        max_validation_windows=8, workers=0, meter_group=group, meters=((numerator, denominator),),
    )
    result = train(options)
    assert result.global_step == 2 and result.validation_metrics
    config = load_model(result.model_directory).config
    assert config.steps_per_bar == steps_per_bar and config.window_steps == 8 * steps_per_bar
    assert config.target_lengths == tuple(bars * steps_per_bar for bars in (1, 2, 3, 4))
    assert config.meters == ((numerator, denominator),)
    assert {group} == {meter_group for _, meter_group in meter_splits}


def test_the_meter_group_is_locked_on_resume(meter_splits, tiny_data, tmp_path):
    from clsm_cli.errors import UsageError

    common = dict(kind="lm", data_dir=tiny_data, out=str(tmp_path / "m"), preset="tiny", batch_size=8, workers=0)
    train(TrainOptions(**common, max_steps=1, meter_group="3/4", meters=((3, 4),)))
    with pytest.raises(UsageError, match="--meter 2/4 differs from the 3/4"):
        train(TrainOptions(**common, max_steps=2, resume=True, meter_group="2/4", meters=((2, 4),)))


def test_windows_of_another_length_are_refused(tiny_data, tmp_path):
    options = TrainOptions(
        kind="lm", data_dir=tiny_data, out=str(tmp_path / "m"), preset="tiny", batch_size=8, max_steps=1,
        workers=0, meter_group="4/4", meters=((3, 4),),  # a 3/4 grid on 128-step (4/4) windows
    )
    with pytest.raises(InputFileError, match="hold 128 steps, but a 4/4 model reads 96"):
        train(options)


def test_the_default_meter_is_four_four_and_two_two(tiny_data, tmp_path):
    options = TrainOptions(kind="lm", data_dir=tiny_data, out=str(tmp_path / "m"), preset="tiny", batch_size=8, max_steps=1, workers=0)
    config = load_model(train(options).model_directory).config
    assert config.meters == ((4, 4), (2, 2)) and config.window_steps == 128 and config.steps_per_bar == 16
