"""Finding the latest infill or vary run in a folder, and resolving an interpolate call (editing/runs.py)."""

from __future__ import annotations

import os

import mido
import pytest

from clsm_cli.editing.provenance import provenance_text
from clsm_cli.editing.runs import latest_run, plan_interpolation
from clsm_cli.errors import UsageError
from clsm_cli.music.bars import BarRange
from synthetic_midi.midi_factory import scale_melody, write_song


def output(folder, name, verb, seed, k, modified, bars=(3, 4), with_input=True):
    """A MIDI file carrying a provenance record as clsm writes it, modified at ``modified`` (seconds)."""
    path = write_song(folder / name, scale_melody(8))
    record = {"verb": verb, "seed": seed, "bars": list(bars), "k": k, "latents": [], "generation": 1,
              "model": "m", "model_sha256": "x", "command": f"clsm {verb} songs/tune.mid --bars 3-4"}
    if with_input:
        record["input"] = "songs/tune.mid"
    midi = mido.MidiFile(path)
    midi.tracks[0].insert(0, mido.MetaMessage("text", text=provenance_text(record)))
    midi.save(path)
    os.utime(path, (modified, modified))
    return path


def test_the_newest_infill_or_vary_run_wins_and_interpolations_are_not_runs(tmp_path):
    output(tmp_path, "a1.mid", "infill", 1, 1, 100)
    output(tmp_path, "a2.mid", "infill", 1, 2, 100)
    newest = [output(tmp_path, f"b{k}.mid", "vary", 2, k, 200, with_input=False) for k in (1, 2)]
    output(tmp_path, "c1.mid", "interpolate", 3, 1, 300)
    run = latest_run(tmp_path)
    assert (run.verb, run.seed, run.bars, str(run.input)) == ("vary", 2, BarRange(3, 4), "songs/tune.mid")
    assert run.outputs == {1: newest[0], 2: newest[1]}
    assert latest_run(tmp_path / "nothing-here") is None


def test_a_plan_takes_the_runs_bars_and_falls_back_to_the_start_file_as_the_song(tmp_path):
    first, second = (output(tmp_path, f"a{k}.mid", "infill", 1, k, 100) for k in (1, 2))
    plan = plan_interpolation([], None, None, None, False, tmp_path)
    assert (plan.song, plan.bars, plan.start_file, plan.end_file) == (first, BarRange(3, 4), first, second)
    assert "a1.mid" in plan.message and "a2.mid" in plan.message
    backwards = plan_interpolation([], "3-4", "2", "1", False, tmp_path)
    assert (backwards.start_file, backwards.end_file) == (second, first)
    with pytest.raises(UsageError, match="no candidate 3"):
        plan_interpolation([], None, "3", None, False, tmp_path)
    with pytest.raises(UsageError, match="needs --bars"):
        plan_interpolation([first], None, None, None, False, tmp_path)
