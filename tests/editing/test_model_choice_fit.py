"""Model choice by fit (issue 24 item 3): of two tiny models trained a few seconds on different
styles, the one whose style the song is in is chosen; the figures reach --json and clsm show."""

from __future__ import annotations

import contextlib
from pathlib import Path

import mido
import numpy as np
import pytest

from clsm_cli.editing.model_choice import EditModels, ModelChoice, measured_bars
from clsm_cli.editing.options import EditOptions
from clsm_cli.editing.prepare import prepare_song
from clsm_cli.music.bars import BarRange

RUN = [60, 62, 64, 65, 67, 69, 71, 72, 71, 69, 67, 65, 64, 62]  # 8th notes up and down a scale
DRONE = [67, 74]  # half notes


def style_steps(style: str, offset: int, num_steps: int = 128) -> list[tuple[int, int, int]]:
    """(start step, end step, pitch) of a style from a phase ``offset``: runs of 8ths or half notes."""
    pattern, length = (RUN, 2) if style == "runs" else (DRONE, 8)
    return [(s, s + length, pattern[(s // length + offset) % len(pattern)]) for s in range(0, num_steps, length)]


def style_windows(style: str) -> np.ndarray:
    from clsm_cli.music.tokens import StepNote, encode_notes

    windows = []
    for offset in range(14):
        for shift in (-2, 0, 3):
            notes = [StepNote(s, e, p + shift) for s, e, p in style_steps(style, offset)]
            windows.append(encode_notes(notes, 128))
    return np.stack(windows)  # (n, 128)


def train_tiny(style: str, directory: Path, steps: int = 120) -> Path:
    """A tiny CLSM trained for a few seconds on one style's windows, saved as an installed model."""
    import torch

    from clsm_cli.checkpoint import save_model
    from clsm_cli.models.config import preset_config
    from clsm_cli.models.registry import build_model

    torch.manual_seed(0)
    model = build_model(preset_config("clsm", "tiny"))
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    data = torch.as_tensor(style_windows(style), dtype=torch.long)
    generator = torch.Generator().manual_seed(1)
    for step in range(steps):
        batch = data[torch.randint(len(data), (16,), generator=generator)]
        length = 16 * (1 + step % 2)
        start = 16 * int(torch.randint(0, (128 - length) // 16 + 1, (1,), generator=generator))
        loss = model.forward_loss(batch, start, length, kl_weight=0.01, generator=generator)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    return save_model(model, directory, name=directory.name)


def write_song(path: Path, style: str, bars: int = 8) -> Path:
    midi = mido.MidiFile(ticks_per_beat=480)
    track = mido.MidiTrack([mido.MetaMessage("time_signature", numerator=4, denominator=4, time=0)])
    now = 0
    for start, end, pitch in style_steps(style, 0, bars * 16):
        track.append(mido.Message("note_on", note=pitch, velocity=80, time=start * 120 - now))
        track.append(mido.Message("note_off", note=pitch, velocity=0, time=(end - start) * 120))
        now = end * 120
    midi.tracks.append(track)
    midi.save(path)
    return path


@pytest.fixture(scope="module")
def two_styles(tmp_path_factory, monkeypatch_module):
    home = tmp_path_factory.mktemp("home")
    monkeypatch_module.setenv("CLSM_HOME", str(home))
    models = home / "models"
    train_tiny("runs", models / "tiny-runs")
    train_tiny("drones", models / "tiny-drones")
    from clsm_cli.checkpoint import list_installed_models

    return [model for model in list_installed_models(read_weights=False) if model.source == "user"]


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def chooser(installed) -> EditModels:
    return EditModels(None, "numpy", "cpu", None, None, contextlib.nullcontext, lambda *_: None, installed)


@pytest.mark.parametrize("style, expected", [("runs", "tiny-runs"), ("drones", "tiny-drones")])
def test_choice_picks_the_model_the_song_fits(two_styles, tmp_path, style, expected):
    song = write_song(tmp_path / f"{style}.mid", style)
    models = chooser(two_styles)
    engine, _ = models.for_file(song, EditOptions(verb="infill", bars=BarRange(3, 4), seed=0))
    assert engine.name == expected
    choice = models.choices[song]
    assert choice.rule == "fit" and choice.model == expected
    figures = {fit.model: fit.nll_per_token for fit in choice.fits}
    assert set(figures) == {"tiny-runs", "tiny-drones"}
    assert figures[expected] == min(figures.values())
    record = choice.to_json()
    assert record["model"] == expected and [f["bars"] for f in record["fits"]] == [[3, 4], [3, 4]]


def test_forced_model_is_kept_and_recorded(two_styles, tmp_path):
    from clsm_cli.editing.options import FileResult
    from clsm_cli.sampling import Decoding

    song = write_song(tmp_path / "runs.mid", "runs")
    drones = next(model for model in two_styles if model.name == "tiny-drones")
    models = EditModels(str(drones.directory), "numpy", "cpu", None, None, contextlib.nullcontext,
                        lambda *_: None, two_styles)
    engine, _ = models.for_file(song, EditOptions(verb="infill", bars=BarRange(3, 4), seed=0))
    assert engine.name == "tiny-drones" and models.choices[song].rule == "forced"
    result = FileResult(input=song, verb="infill", seed=0, model=engine.name, model_sha256=engine.sha256,
                        bars=BarRange(3, 4), decoding=Decoding(1.0, 1.0))
    models.annotate(result)
    assert result.to_json()["model_choice"]["rule"] == "forced"


def test_silent_target_is_measured_on_the_nearest_bars_that_play(tmp_path):
    song = tmp_path / "gap.mid"
    midi = mido.MidiFile(ticks_per_beat=480)
    track = mido.MidiTrack([mido.MetaMessage("time_signature", numerator=4, denominator=4, time=0)])
    # notes in bars 1-2 and 7-8 only
    for bar, gap in ((0, 0), (1, 0), (6, 4 * 1920), (7, 0)):
        track.append(mido.Message("note_on", note=67, velocity=80, time=gap))
        track.append(mido.Message("note_off", note=67, velocity=0, time=1920))
    midi.tracks.append(track)
    midi.save(song)
    prepared = prepare_song(song, BarRange(4, 5), None)
    assert measured_bars(prepared, BarRange(4, 5)) == BarRange(2, 3)
    assert measured_bars(prepared, BarRange(1, 2)) == BarRange(1, 2)


def test_choice_lines_name_every_figure_and_the_choice():
    from clsm_cli.editing.model_choice import ModelFit

    choice = ModelChoice("b", "fit", (ModelFit("a", 1.5, BarRange(3, 4)), ModelFit("b", 0.75, BarRange(3, 4))))
    assert choice.lines(BarRange(3, 4)) == [
        "model: b would edit bars 3-4 (it fits best of 2: the lowest negative log-likelihood per token)",
        "  a: 1.500 nats per token on bars 3-4", "  b: 0.750 nats per token on bars 3-4"]


def test_vary_around_and_interpolate_keep_the_runs_model(two_styles, tmp_path):
    from typer.testing import CliRunner

    from clsm_cli.cli.app import app

    song = write_song(tmp_path / "runs.mid", "runs")
    drones = next(model for model in two_styles if model.name == "tiny-drones")
    out = tmp_path / "out"
    made = CliRunner().invoke(app, ["infill", str(song), "--bars", "3-4", "--model", str(drones.directory), "-n", "2",
                                    "--seed", "1", "--out", str(out), "--no-preview"])
    assert made.exit_code == 0, made.output
    first, second = sorted(out.glob("*.mid"))
    # left to the fit, the song would go to tiny-runs; its run was made by tiny-drones
    for options in (EditOptions(verb="vary", bars=BarRange(3, 4), seed=0, around_file=first),
                    EditOptions(verb="interpolate", bars=BarRange(3, 4), seed=0, start_file=first, end_file=second)):
        models = chooser(two_styles)
        engine, _ = models.for_file(song, options)
        assert (engine.name, models.choices[song].rule) == ("tiny-drones", "run")
    fresh = chooser(two_styles)
    assert fresh.for_file(song, EditOptions(verb="vary", bars=BarRange(3, 4), seed=0))[0].name == "tiny-runs"
