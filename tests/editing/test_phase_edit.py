"""The grid phase on an edit (issue 24 item 5): detected and applied by default, ``--phase TICKS``
forcing it and ``--phase 0`` turning it off; bars counted from the phase, new notes written at
the file's offset, every event outside the target untouched."""

from __future__ import annotations

import mido

from clsm_cli.music.midi_read import read_midi

SHIFT = 41
TPB = 480


def shifted_song(path):
    """8 bars of 4/4, quarter notes, every onset SHIFT ticks after the 16th grid."""
    midi = mido.MidiFile(ticks_per_beat=TPB)
    track = mido.MidiTrack([mido.MetaMessage("time_signature", numerator=4, denominator=4, time=0)])
    now = 0
    for beat in range(32):
        start = beat * TPB + SHIFT
        pitch = (60, 62, 64, 65, 67, 65, 64, 62)[beat % 8]
        track.append(mido.Message("note_on", note=pitch, velocity=80, time=start - now))
        track.append(mido.Message("note_off", note=pitch, velocity=0, time=400))
        now = start + 400
    midi.tracks.append(track)
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
    assert run_clsm("infill", song, "--bars", "3-4", "--phase", "-5", "--model", tiny_model_dir).exit_code == 2
