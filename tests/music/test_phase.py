"""Grid phase (issue 24 item 5): files shifted by a 16th, an 8th and a few ticks are detected, and
bars counted from the phase put every note back on its step."""

from __future__ import annotations

import mido
import numpy as np
import pytest

from clsm_cli.errors import UsageError
from clsm_cli.music import melody
from clsm_cli.music.bars import song_bars, step_to_tick
from clsm_cli.music.midi_read import read_midi
from clsm_cli.music.phase import detect_phase

TPB = 480
# (step, length in steps, pitch): four bars of 4/4, long notes on the bar lines, a bass note a bar
TUNE = [(0, 8, 72), (8, 4, 71), (12, 2, 69), (14, 2, 67)] * 4


def write_shifted(path, shift_ticks: int):
    midi = mido.MidiFile(ticks_per_beat=TPB)
    lead = mido.MidiTrack([mido.MetaMessage("time_signature", numerator=4, denominator=4, time=0)])
    events = []
    for bar in range(4):
        for step, length, pitch in TUNE[:4]:
            start = (bar * 16 + step) * 120 + shift_ticks
            events += [(start, 1, pitch), (start + length * 120 - 10, 0, pitch)]
    now = 0
    for tick, on, pitch in sorted(events, key=lambda e: (e[0], e[1])):
        lead.append(mido.Message("note_on" if on else "note_off", note=pitch, velocity=80 if on else 0, time=tick - now))
        now = tick
    bass = mido.MidiTrack([mido.MetaMessage("track_name", name="Bass", time=0)])
    now = 0
    for bar in range(4):
        start = bar * 16 * 120 + shift_ticks
        bass += [mido.Message("note_on", note=36, velocity=80, time=start - now, channel=1),
                 mido.Message("note_off", note=36, velocity=0, time=1800, channel=1)]
        now = start + 1800
    midi.tracks += [lead, bass]
    midi.save(path)
    return path


@pytest.mark.parametrize("shift", [7, 41, 120, 240])
def test_detected_phase_counts_bars_from_the_music(tmp_path, shift):
    song = read_midi(write_shifted(tmp_path / f"shifted-{shift}.mid", shift))
    lead, bass = song.tracks[0], song.tracks[1]
    starts = np.array([note.start_tick for note in lead.notes])
    ends = np.array([note.end_tick for note in lead.notes])
    phase = detect_phase(starts, ends, TPB, 16, accent_ticks=[np.array([n.start_tick for n in bass.notes])])
    assert phase.ticks == shift
    bars = song_bars(song, phase_ticks=phase.ticks)
    quantized = melody.quantize_track(lead, bars, TPB)
    lead_steps = bars[0].steps if bars[0].start_tick == 0 and phase.ticks >= 60 else 0
    assert [n.start_step - lead_steps for n in quantized.notes[:4]] == [0, 8, 12, 14]
    assert quantized.report.off_grid == 0
    # a new note written on step s lands at the same offset as the file's notes
    assert step_to_tick(bars, TPB, lead_steps + 8) == 8 * 120 + shift


def test_phase_zero_changes_nothing_and_bad_phases_are_refused(tmp_path):
    song = read_midi(write_shifted(tmp_path / "plain.mid", 0))
    assert song_bars(song, phase_ticks=0) == song_bars(song)
    with pytest.raises(UsageError, match="--phase"):
        song_bars(song, phase_ticks=10**7)
