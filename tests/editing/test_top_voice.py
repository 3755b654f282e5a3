"""The top voice stays on top (issue 22): on a track with chords no new note starts under, or on,
a kept note that starts at the same step, on a generated piano piece and a real POP909 piano part."""

from __future__ import annotations

from pathlib import Path

import pytest

from clsm_cli.editing.controls import ControlRequest
from clsm_cli.editing.options import EditOptions, command_decoding
from clsm_cli.editing.prepare import open_song, prepare_song
from clsm_cli.editing.verbs import edit_file
from clsm_cli.music.bars import BarRange
from clsm_cli.music.meter import Meter
from synthetic_midi.midi_factory import STEP_TICKS, make_midi, melody_track

DEV_MIDI = Path(__file__).resolve().parents[1] / "fixtures" / "dev_midi"


def piano_piece(path) -> Path:
    """8 bars of one piano track: a melody around C5 over a chord (two notes) struck with it on each beat."""
    notes = []
    for beat in range(32):
        step = beat * 4
        notes.append((step, step + 4, 72 + (0, 2, 4, 5, 7, 5, 4, 2)[beat % 8]))
        notes += [(step, step + 4, 64 + beat % 3), (step, step + 4, 67 + beat % 2)]  # high chords, near the tune
    return make_midi(path, [melody_track(notes, ticks_per_step=STEP_TICKS, name="Piano")], time_signatures=[(0, 4, 4)])


def sinking_notes(result, prepared, bars):
    """New notes that start under (or on) a kept note starting at the same step."""
    start, end = prepared.target_steps(bars)
    kept = {}
    for note in prepared.accompaniment:
        if start <= note.start_step < end:
            kept[note.start_step] = max(kept.get(note.start_step, -1), note.pitch)
    return [(output.k, note) for output in result.outputs for note in output.new_notes
            if not note.tied_from_before and note.pitch <= kept.get(note.start_step, -1)]


@pytest.mark.parametrize("engine", ["numpy", "torch"])
def test_a_generated_piano_piece_keeps_its_new_line_on_top(engine, tiny_model_dir, tmp_path):
    from clsm_cli.engine.load import load_engine

    model = load_engine(str(tiny_model_dir), engine, "cpu")
    path = piano_piece(tmp_path / "piano.mid")
    bars = BarRange(3, 4)
    prepared = prepare_song(path, bars, None)
    assert len([n for n in prepared.accompaniment if 32 <= n.start_step < 64]) == 16
    for seed in (1, 2, 3):
        options = EditOptions(verb="infill", bars=bars, seed=seed, num=4, out_dir=tmp_path / str(seed),
                              temperature=1.0, controls=ControlRequest(pitch_range="any"))
        result = edit_file(path, options, model, command_decoding(model.config, 1.0, None))
        assert result.ok, result.error
        assert sinking_notes(result, prepared, bars) == []


def test_the_pop909_piano_part_keeps_its_new_line_on_top(tmp_path):
    from clsm_cli.engine.load import load_engine

    model = load_engine(None, "numpy", "cpu")
    path = DEV_MIDI / "pop909_303.mid"
    for bars in (BarRange(9, 10), BarRange(17, 18)):
        options = EditOptions(verb="infill", bars=bars, seed=1, num=4, out_dir=tmp_path, track="PIANO",
                              meter=Meter(4, 4))
        result = edit_file(path, options, model, command_decoding(model.config, None, None))
        assert result.ok, result.error
        prepared = prepare_song(open_song(path, bars, Meter(4, 4)), bars, "PIANO")
        assert [n for n in prepared.accompaniment if prepared.target_steps(bars)[0] <= n.start_step
                < prepared.target_steps(bars)[1]]  # the bars hold chords
        assert sinking_notes(result, prepared, bars) == []


def test_a_leading_hold_under_a_kept_note_is_not_drawn():
    """A hold at the target's first step is a new note of the pitch sounding before it (``splice``):
    under a kept note starting there it would sink, so only then is it masked (a rest is left when
    nothing else is); on a triplet quarter, the first triplet after ``3:`` counts as that step."""
    from types import SimpleNamespace

    import numpy as np

    from clsm_cli.constants import HOLD_TOKEN, REST_TOKEN, TRIPLET_TOKEN
    from clsm_cli.editing.edge_rules import NoHoldUnderKept, edge_rules
    from clsm_cli.music.bars import song_bars
    from clsm_cli.music.tokens import StepNote

    song = SimpleNamespace(name="s.mid", ticks_per_beat=480, last_note_end=8 * 1920, time_signatures=[(0, 4, 4)])
    bars = song_bars(song)
    classes = TRIPLET_TOKEN + 1

    def everything(step, generated):
        return None

    line = [StepNote(12, 16, 63)]  # sounds up to the target at step 16
    rules = edge_rules(everything, bars, 480, 16, line, [(16, 68)], classes)
    assert isinstance(rules, NoHoldUnderKept)
    first = rules(0, np.zeros((2, 0), dtype=np.int64))
    assert not first[:, HOLD_TOKEN].any() and first[:, REST_TOKEN].all() and first[:, :HOLD_TOKEN].all()
    after_marker = rules(1, np.array([[TRIPLET_TOKEN], [5]]))
    assert after_marker[:, HOLD_TOKEN].tolist() == [False, True]
    assert rules(2, np.zeros((2, 2), dtype=np.int64)) is None
    only_hold = NoHoldUnderKept(lambda step, generated: np.eye(classes, dtype=bool)[HOLD_TOKEN], classes)
    assert np.flatnonzero(only_hold(0, np.zeros((1, 0), dtype=np.int64))[0]).tolist() == [REST_TOKEN]
    # a note above the kept one, a rest before the target, or no kept note there: holds stay free
    assert edge_rules(everything, bars, 480, 16, [StepNote(12, 16, 70)], [(16, 68)], classes) is everything
    assert edge_rules(everything, bars, 480, 16, [StepNote(8, 12, 63)], [(16, 68)], classes) is everything
    assert edge_rules(everything, bars, 480, 16, line, [(18, 68)], classes) is everything
