"""The grid phase on an edit (issue 24 item 5): detected and applied by default, ``--phase TICKS``
forcing it and ``--phase 0`` turning it off; bars counted from the phase, new notes written at
the file's offset, every event outside the target untouched."""

from __future__ import annotations

import mido
import numpy as np
import pytest

from clsm_cli.music.bars import first_sounding_step, song_bars, step_to_tick
from clsm_cli.music.midi_read import read_midi

SHIFT = 41
TPB = 480


def shifted_song(path, shift=SHIFT, accompaniment=False):
    """8 bars of 4/4, quarter notes, every onset ``shift`` ticks after the beat grid counted from tick
    0; with ``accompaniment``, a second track of whole notes from tick 0 (kept as it is by every edit)."""
    midi = mido.MidiFile(ticks_per_beat=TPB)
    track = mido.MidiTrack([mido.MetaMessage("time_signature", numerator=4, denominator=4, time=0)])
    now = 0
    for beat in range(32):
        start = beat * TPB + shift
        pitch = (60, 62, 64, 65, 67, 65, 64, 62)[beat % 8]
        track.append(mido.Message("note_on", note=pitch, velocity=80, time=start - now))
        track.append(mido.Message("note_off", note=pitch, velocity=0, time=400))
        now = start + 400
    midi.tracks.append(track)
    if accompaniment:
        chords = mido.MidiTrack([mido.MetaMessage("track_name", name="Pads", time=0)])
        for bar in range(8):
            chords += [mido.Message("note_on", note=48, velocity=60, time=0, channel=1),
                       mido.Message("note_off", note=48, velocity=0, time=4 * TPB, channel=1)]
        midi.tracks.append(chords)
    midi.save(path)
    return path


def _infill(run_clsm, song, model, out, *phase):
    result = run_clsm("infill", song, "--bars", "3-4", *phase, "--model", model,
                      "-n", "1", "--seed", "3", "--out", out, "--no-preview")
    assert result.exit_code == 0, result.output
    return result, read_midi(next(out.glob("*.mid")))


def _check_offset(song, edited, offset):
    """New notes of bars 3-4 (counted from SHIFT) sit ``offset`` ticks off the 16th grid; every other
    note is untouched."""
    original = read_midi(song)
    first, last = 2 * 4 * TPB + SHIFT, 4 * 4 * TPB + SHIFT
    new = [n for n in edited.tracks[0].notes if first <= n.start_tick < last]
    assert new and all((n.start_tick - offset) % (TPB // 4) == 0 for n in new)
    outside = [n for n in original.tracks[0].notes if not first - SHIFT <= n.start_tick < last]
    assert [n for n in edited.tracks[0].notes if not first - SHIFT <= n.start_tick < last] == outside


def test_the_detected_phase_is_applied_by_default(run_clsm, tiny_model_dir, tmp_path):
    song = shifted_song(tmp_path / "shifted.mid")
    shown = run_clsm("show", song)
    assert "grid phase: bars counted from tick 41: onsets 41 ticks after the 16th grid" in " ".join(shown.stdout.split())
    result, edited = _infill(run_clsm, song, tiny_model_dir, tmp_path / "default")
    assert "its grid is shifted, so bars counted from tick 41" in " ".join(result.output.split())
    _check_offset(song, edited, SHIFT)


def test_phase_forces_or_turns_off_the_detected_phase(run_clsm, tiny_model_dir, tmp_path):
    song = shifted_song(tmp_path / "shifted.mid")
    shown = " ".join(run_clsm("show", song, "--phase", "0").stdout.split())
    assert "bars counted from tick 0 (--phase); detected 41 ticks: onsets 41 ticks after the grid" in shown
    _, forced = _infill(run_clsm, song, tiny_model_dir, tmp_path / "forced", "--phase", str(SHIFT))
    _check_offset(song, forced, SHIFT)
    result, _ = _infill(run_clsm, song, tiny_model_dir, tmp_path / "off", "--phase", "0")
    assert "grid is shifted" not in result.output
    # a negative phase puts the bar line before tick 0: the same 16th grid, bar 1 padded
    _, before = _infill(run_clsm, song, tiny_model_dir, tmp_path / "negative", "--phase", str(SHIFT - TPB))
    assert all((n.start_tick - SHIFT) % (TPB // 4) == 0 for n in before.tracks[0].notes)
    assert run_clsm("infill", song, "--bars", "3-4", "--phase", "99999", "--model", tiny_model_dir).exit_code == 2


# --- bar 1 padded before tick 0 -------------------------------------------------------------------


@pytest.mark.parametrize("shift, applied", [
    (8, 8),  # a few ticks late: applied as it is, no padding
    (TPB // 4 + SHIFT, TPB // 4 + SHIFT - TPB),  # a 16th and 41 ticks: bar lines a beat earlier, bar 1 padded
    (TPB // 2 + SHIFT, TPB // 2 + SHIFT - TPB),  # an 8th and 41 ticks
])
def test_bars_1_2_of_a_shifted_file_edit_and_no_note_is_written_before_it(run_clsm, tiny_model_dir, tmp_path,
                                                                          shift, applied):
    song = shifted_song(tmp_path / f"shifted-{shift}.mid", shift, accompaniment=True)
    original = read_midi(song)
    bars = song_bars(original, phase_ticks=applied)
    first_tick = step_to_tick(bars, TPB, first_sounding_step(bars, TPB))  # bar 1's first step in the file
    assert 0 <= first_tick < TPB // 4 and bars[0].steps == 16
    for seed in ("1", "2", "3"):
        out = tmp_path / f"out-{seed}"
        result = run_clsm("infill", song, "--bars", "1-2", "--model", tiny_model_dir, "-n", "2", "--seed", seed,
                          "--out", out, "--no-preview")
        assert result.exit_code == 0, result.output
        assert f"bars counted from tick {applied}" in " ".join(result.output.split())
        for path in out.glob("*.mid"):
            edited = read_midi(path)
            end = bars[1].end_tick
            new = [n for n in edited.tracks[0].notes if n.start_tick < end]
            assert all(n.start_tick >= first_tick for n in new)
            assert all((n.start_tick - shift) % (TPB // 4) == 0 for n in new)  # at the file's offset
            assert [n for n in edited.tracks[0].notes if n.start_tick >= end] == \
                [n for n in original.tracks[0].notes if n.start_tick >= end]
            assert edited.tracks[1].notes == original.tracks[1].notes  # the accompaniment, from tick 0


def test_padded_steps_draw_only_rests():
    """The mask the editing commands compose (``steering.line_rules``): a target starting on bar 1's
    padding may only rest there; later steps, and targets past bar 1, keep their own masks."""
    from types import SimpleNamespace

    from clsm_cli.constants import NUM_MUSIC_TOKENS, REST_TOKEN
    from clsm_cli.editing.edge_rules import RestsBeforeTheFile, edge_rules

    song = SimpleNamespace(name="s.mid", ticks_per_beat=TPB, last_note_end=8 * 4 * TPB, time_signatures=[(0, 4, 4)])
    bars = song_bars(song, phase_ticks=-319)  # bar 1 starts 319 ticks before tick 0: 3 steps of padding

    def everything(step, generated):
        return np.ones((len(generated), NUM_MUSIC_TOKENS), dtype=bool)

    rules = edge_rules(everything, bars, TPB, 0, (), (), NUM_MUSIC_TOKENS)
    assert isinstance(rules, RestsBeforeTheFile) and rules.padded_steps == 3
    drawn = np.zeros((2, 0), dtype=np.int64)
    for step in range(3):
        assert np.flatnonzero(rules(step, drawn)).tolist() == [REST_TOKEN]
    assert rules(3, np.zeros((2, 3), dtype=np.int64)).all()
    assert edge_rules(everything, bars, TPB, 16, (), (), NUM_MUSIC_TOKENS) is everything  # bar 2


def test_a_file_on_the_grid_from_tick_0_edits_as_with_phase_0(run_clsm, tiny_model_dir, tmp_path):
    song = shifted_song(tmp_path / "on-grid.mid", 0)
    outputs = []
    for label, phase in (("default", ()), ("off", ("--phase", "0"))):
        result, edited = _infill(run_clsm, song, tiny_model_dir, tmp_path / label, *phase)
        assert "grid is shifted" not in result.output
        outputs.append(edited.tracks[0].notes)
    assert outputs[0] == outputs[1]
