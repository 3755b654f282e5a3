"""Exact copies stay exact: ``vary --amount 0`` and interpolation ends are written with the original
notes' ticks, durations and velocities, not re-quantized (the real CRÉ tunes are played one tick
late, swung as triplets or with human lengths)."""

import json
from pathlib import Path

import pytest

from clsm_cli.music.bars import BarRange, song_bars
from clsm_cli.music.midi_read import read_midi

DEV_MIDI = Path(__file__).resolve().parent.parent / "fixtures" / "dev_midi"


def notes_in(path, bars_range):
    song = read_midi(path)
    first, end = bars_range.tick_span(song_bars(song))
    return [(n.start_tick, n.end_tick, n.pitch, n.velocity) for t in song.tracks for n in t.notes
            if first <= n.start_tick < end]


def all_notes(path):
    return sorted((n.start_tick, n.end_tick, n.pitch, n.velocity) for t in read_midi(path).tracks for n in t.notes)


@pytest.mark.parametrize("name", ["cre_BaconandBeanshornpipe", "cre_AshplantreelThe", "cre_AsIWentOutUpontheIcepolka"])
@pytest.mark.parametrize("bars", ["3-4", "5-8"])
def test_vary_amount_0_writes_the_target_bars_note_for_note(run_clsm, tmp_path, name, bars):
    tune = DEV_MIDI / f"{name}.mid"
    result = run_clsm("vary", tune, "--bars", bars, "--amount", "0", "-n", "1", "--json", "--no-preview",
                      "--out", tmp_path)
    assert result.exit_code == 0, result.output
    (output,) = json.loads(result.stdout)["outputs"]
    assert notes_in(output["path"], BarRange.parse(bars)) == notes_in(tune, BarRange.parse(bars))
    assert all_notes(output["path"]) == all_notes(tune)


def test_interpolation_ends_copied_from_infills_are_those_files_note_for_note(run_clsm, tmp_path):
    tune = DEV_MIDI / "cre_BaconandBeanshornpipe.mid"
    infill = run_clsm("infill", tune, "--bars", "3-4", "-n", "2", "--seed", "5", "--json", "--no-preview",
                      "--out", tmp_path)
    assert infill.exit_code == 0, infill.output
    first, second = (Path(output["path"]) for output in json.loads(infill.stdout)["outputs"])
    series = run_clsm("interpolate", "--start", first, "--end", second, "--steps", "2", "--json", "--no-preview",
                      "--out", tmp_path / "series")
    assert series.exit_code == 0, series.output
    outputs = [Path(output["path"]) for output in json.loads(series.stdout)["outputs"]]
    assert all_notes(outputs[0]) == all_notes(first)
    assert all_notes(outputs[-1]) == all_notes(second)
