"""``--phase TICKS`` on an edit: bars counted from the phase, new notes written at the file's offset,
every event outside the target untouched (issue 24 item 5)."""

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


def test_new_notes_sit_at_the_files_offset(run_clsm, tiny_model_dir, tmp_path):
    song = shifted_song(tmp_path / "shifted.mid")
    shown = run_clsm("show", song)
    assert "onsets 41 ticks after the grid" in shown.stdout and "--phase 41" in shown.stdout
    out = tmp_path / "out"
    result = run_clsm("infill", song, "--bars", "3-4", "--phase", str(SHIFT), "--model", tiny_model_dir,
                      "-n", "1", "--seed", "3", "--out", out, "--no-preview")
    assert result.exit_code == 0, result.output
    edited = read_midi(next(out.glob("*.mid")))
    original = read_midi(song)
    first, last = 2 * 4 * TPB + SHIFT, 4 * 4 * TPB + SHIFT
    new = [n for n in edited.tracks[0].notes if first <= n.start_tick < last]
    assert new and all((n.start_tick - SHIFT) % (TPB // 4) == 0 for n in new)
    outside = [n for n in original.tracks[0].notes if not first <= n.start_tick < last]
    assert [n for n in edited.tracks[0].notes if not first <= n.start_tick < last] == outside
    assert run_clsm("infill", song, "--bars", "3-4", "--phase", "-5", "--model", tiny_model_dir).exit_code == 2
