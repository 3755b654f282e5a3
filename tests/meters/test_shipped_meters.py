"""The shipped models of other meters edit the example tune of their meter with no option."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clsm_cli.music.bars import BarRange
from tests.music.edit_checks import events_outside

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SHIPPED = Path(__file__).resolve().parents[2] / "weights"
METER_EXAMPLES = {"3-4": "zwischen-berg-und-tal-3-4.mid", "6-8": "das-jagen-6-8.mid", "2-4": "o-tannenbaum-2-4.mid"}


@pytest.mark.parametrize("meter", sorted(name for name in METER_EXAMPLES if (SHIPPED / f"folk-small-{name}").is_dir()))
def test_the_example_of_a_meter_is_edited_by_its_shipped_model(run_clsm, tmp_path, meter):
    example = EXAMPLES / METER_EXAMPLES[meter]
    result = run_clsm("infill", example, "--bars", "3-4", "-n", "2", "--seed", "1", "--json", "--no-preview",
                      "--out", tmp_path)
    assert result.exit_code == 0, result.output
    (record,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert record["model"] == f"folk-small-{meter}"
    for output in record["outputs"]:
        assert events_outside(output["path"], BarRange(3, 4)) == events_outside(example, BarRange(3, 4))


WEIGHTS_BUDGET_BYTES = 65_000_000  # issue 24: the shipped weights total at most 65 MB


def test_every_shipped_model_has_its_card_and_the_weights_fit_the_budget():
    models = sorted(path for path in SHIPPED.iterdir() if (path / "config.json").is_file())
    assert {"folk-small", "pop-small"} <= {path.name for path in models}
    for path in models:
        assert (path / "CARD.md").is_file(), path.name
    assert sum(path.stat().st_size for path in SHIPPED.rglob("*.safetensors")) <= WEIGHTS_BUDGET_BYTES


def test_a_pop909_song_is_edited_by_pop_small_and_a_folk_tune_by_folk_small(run_clsm, tmp_path):
    dev_midi = Path(__file__).resolve().parents[1] / "fixtures" / "dev_midi"
    for song, bars, expected in (("pop909_404.mid", "9-10", "pop-small"), ("cre_AshplantreelThe.mid", "9-10", "folk-small")):
        result = run_clsm("infill", dev_midi / song, "--bars", bars, "--meter", "4/4", "-n", "1", "--seed", "1",
                          "--json", "--no-preview", "--out", tmp_path)
        assert result.exit_code == 0, result.output
        (record,) = [json.loads(line) for line in result.stdout.splitlines()]
        assert record["model"] == expected, record["model_choice"]
    assert "MIT" in (SHIPPED / "pop-small" / "CARD.md").read_text()
