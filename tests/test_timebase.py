"""The time base: meters, grids, tick/step conversions, the window rule, and where grids are recorded."""

import json
from fractions import Fraction

import numpy as np
import pytest

from clsm_cli.constants import vocabulary_hash
from clsm_cli.data.shards import manifest_grid
from clsm_cli.errors import InputFileError
from clsm_cli.models.config import config_from_dict, config_to_dict, preset_config, with_grid, with_meter
from clsm_cli.timebase import (
    SIXTEENTH_GRID,
    TRIPLET_GRID,
    Grid,
    Meter,
    bar_ticks,
    grid_from_record,
    step_offset_to_tick,
    step_offsets_to_ticks,
    target_lengths,
    tick_offset_to_step,
    tick_offsets_to_steps,
    window_steps,
)


@pytest.mark.parametrize("ticks_per_beat", [96, 120, 384, 480, 960, 25, 7])
def test_tick_to_step_rounds_halves_up_exactly_and_the_array_form_agrees(ticks_per_beat):
    ticks = np.arange(0, 4 * ticks_per_beat + 1)
    expected = [int(Fraction(4 * tick, ticks_per_beat) + Fraction(1, 2)) for tick in ticks.tolist()]
    assert [tick_offset_to_step(int(tick), ticks_per_beat) for tick in ticks] == expected
    assert tick_offsets_to_steps(ticks, ticks_per_beat).tolist() == expected
    half_step = Fraction(ticks_per_beat, 8)
    if half_step.denominator == 1:  # exactly half a step goes to the later step
        assert tick_offset_to_step(int(half_step), ticks_per_beat) == 1


@pytest.mark.parametrize("ticks_per_beat", [480, 25, 7])
def test_step_to_tick_is_the_nearest_whole_tick_and_round_trips(ticks_per_beat):
    steps = np.arange(0, 33)
    expected = [int(Fraction(step * ticks_per_beat, 4) + Fraction(1, 2)) for step in steps.tolist()]
    assert [step_offset_to_tick(int(step), ticks_per_beat) for step in steps] == expected
    assert step_offsets_to_ticks(steps, ticks_per_beat).tolist() == expected
    assert tick_offsets_to_steps(step_offsets_to_ticks(steps, ticks_per_beat), ticks_per_beat).tolist() == steps.tolist()


def test_bar_ticks_and_steps_per_bar_of_each_meter():
    assert bar_ticks(Meter(4, 4), 480) == 1920 and bar_ticks(Meter(6, 8), 480) == 1440
    assert bar_ticks(Meter(3, 8), 3) is None  # 4.5 ticks: not a whole bar at this resolution
    assert [Meter(*meter).steps_per_bar for meter in [(4, 4), (2, 2), (3, 4), (6, 8), (2, 4), (9, 8)]] == [16, 16, 12, 12, 8, 18]
    assert all(grid.steps_per_bar(Meter(3, 4)) == 12 for grid in (SIXTEENTH_GRID, TRIPLET_GRID))
    with pytest.raises(ValueError, match="not a whole number of sixteenth"):
        Meter(7, 32)


def test_a_beat_is_a_quarter_a_dotted_quarter_in_compound_meters_else_an_eighth():
    beats = {text: Meter.parse(text).beat_steps for text in ("4/4", "2/2", "3/4", "6/8", "9/8", "12/8", "3/8", "7/8")}
    assert beats == {"4/4": 4, "2/2": 4, "3/4": 4, "6/8": 6, "9/8": 6, "12/8": 6, "3/8": 2, "7/8": 2}


def test_the_window_rule_is_eight_bars_and_targets_of_one_to_four_bars():
    assert window_steps(16) == 128 and target_lengths(16) == (16, 32, 48, 64)
    assert Meter(3, 4).window_steps == 96 and Meter(3, 4).target_lengths == (12, 24, 36, 48)


def test_triplets_are_defined_in_simple_quarter_meters_only():
    assert [TRIPLET_GRID.supports(Meter(*meter)) for meter in [(4, 4), (2, 2), (3, 4), (2, 4), (6, 8), (3, 8)]] == [
        True, True, True, True, False, False]
    assert all(SIXTEENTH_GRID.supports(Meter(*meter)) for meter in [(6, 8), (9, 8)])


def test_grid_records_round_trip_and_old_records_read_as_the_16th_grid():
    for grid in (SIXTEENTH_GRID, TRIPLET_GRID):
        assert grid_from_record(json.loads(json.dumps(grid.as_dict()))) == grid
    assert grid_from_record(None) == SIXTEENTH_GRID
    assert grid_from_record("triplet") == TRIPLET_GRID
    for bad in ({"encoding": "quintuplet"}, {"steps_per_quarter": 8}, {"colour": "blue"}, 7):
        with pytest.raises((ValueError, TypeError)):
            grid_from_record(bad)
    with pytest.raises(ValueError):
        Grid(encoding="32nd")


def test_a_model_config_records_its_grid_and_old_configs_read_as_16ths():
    config = preset_config("clsm", "tiny")
    assert config.grid == SIXTEENTH_GRID
    saved = config_to_dict(config)
    assert saved["grid_encoding"] == "16th"
    del saved["grid_encoding"]  # a config saved before grids were recorded
    assert config_from_dict(saved) == config
    triplet = with_grid(config, TRIPLET_GRID)
    assert triplet.grid == TRIPLET_GRID and triplet.vocab_size == 36
    assert config_from_dict(config_to_dict(triplet)) == triplet
    assert vocabulary_hash("triplet") != vocabulary_hash() == vocabulary_hash("16th")


def test_a_triplet_config_refuses_compound_meters():
    from clsm_cli.errors import ModelError

    with pytest.raises(ModelError, match="triplet grid is defined in x/4 and 2/2 only"):
        with_meter(with_grid(preset_config("clsm", "tiny"), TRIPLET_GRID), ((6, 8),))


def test_a_dataset_manifest_records_its_grid():
    assert manifest_grid({"grid": {"steps_per_quarter": 4, "encoding": "16th"}}) == SIXTEENTH_GRID
    assert manifest_grid({}) == SIXTEENTH_GRID  # built before grids were recorded
    with pytest.raises(InputFileError, match="grid this clsm does not know"):
        manifest_grid({"grid": {"encoding": "septuplet"}})
