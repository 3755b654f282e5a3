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
