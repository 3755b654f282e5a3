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


# --- the phase applied by default, when a song is read (editing.prepare.open_song) --------------


@pytest.mark.parametrize("shift, applied", [
    (8, 8),  # a few ticks: the offset (1/15 of a 16th)
    (41, 41),  # POP909's kind of offset
    (120 + 8, 0),  # a 16th and a few ticks late: applying it would renumber the bars (a short lead
    (240 + 41, 0),  # bar first), so only --phase applies it
    (120, 0),  # exactly a 16th late: the onsets sit on the grid from tick 0, so the file is
    (240, 0),  # left as it is (as a tune with an unpadded pickup); --phase applies it
    (1, 0),  # abc2midi's one tick: below MIN_APPLIED_OFFSET, not applied
    (0, 0),  # on the grid from tick 0: unaffected
])
def test_the_confident_phase_is_applied_when_a_song_is_read(tmp_path, shift, applied):
    from clsm_cli.editing.prepare import open_song

    path = write_shifted(tmp_path / f"shifted-{shift}.mid", shift)
    opened = open_song(path, None)
    assert (opened.phase_rule, opened.phase_ticks) == ("detected", applied)
    assert any("grid is shifted" in w for w in opened.warnings) == bool(applied)
    assert open_song(path, None, phase_ticks=0).bars == tuple(song_bars(read_midi(path)))  # --phase 0: off
    assert open_song(path, None, phase_ticks=0).phase_rule == "forced"


def test_a_shift_by_whole_beats_is_not_applied_by_default(tmp_path):
    """Bar phase among the beats (a wrong one renumbers bars) is left to --phase, even when detected."""
    from clsm_cli.editing.prepare import open_song

    path = write_shifted(tmp_path / "beat-late.mid", 480 + 41)
    opened = open_song(path, None)
    assert opened.phase.ticks == 480 + 41 and opened.phase_ticks == 41


def test_unclear_eighths_give_no_beat_step():
    from clsm_cli.music.phase import confident_beat_step

    onsets = np.arange(32) * 120  # every 16th alike: no 8th grid stands out
    assert confident_beat_step(onsets, np.full(32, 100), 120, 4) == 0
    late = np.arange(32) * 480 + 240  # every onset an 8th after the beat grid
    assert confident_beat_step(late, np.full(32, 400), 120, 4) == 2
    assert confident_beat_step(late[:8], np.full(8, 400), 120, 4) == 0  # too few onsets


def test_files_on_the_grid_from_tick_0_are_unaffected():
    from pathlib import Path

    from clsm_cli.editing.prepare import open_song

    root = Path(__file__).resolve().parents[2]
    files = sorted((root / "examples").glob("*.mid")) + sorted((root / "tests/fixtures/dev_midi").glob("cre_*.mid"))
    assert len(files) >= 17
    for path in files:
        opened = open_song(path, None)
        assert opened.phase_ticks == 0 and opened.bars == tuple(song_bars(read_midi(path))), path.name


def test_pop909_dev_files_get_their_offset_and_annotated_beat_step_when_forced():
    """The POP909 dev songs (4/4): the applied phase within a beat matches beat_midi.txt's beats
    (measured once: 010 411, 101 77, 202 16, 303 401, 404 208, 707 448, 808 160 ticks after each
    beat; 606's 8ths are unclear, so only its offset applies)."""
    from pathlib import Path

    from clsm_cli.editing.prepare import open_song
    from clsm_cli.timebase import Meter

    annotated = {"010": 411, "101": 77, "202": 16, "303": 401, "404": 208, "707": 448, "808": 160}
    root = Path(__file__).resolve().parents[2] / "tests/fixtures/dev_midi"
    for song, beat_ticks in annotated.items():
        opened = open_song(root / f"pop909_{song}.mid", None, Meter(4, 4))
        detected = opened.phase.offset_ticks + opened.phase.beat_steps * opened.phase.unit_ticks
        assert detected % TPB == beat_ticks, song
        # By default only an offset under half a 16th is applied: bar 1 stays a whole bar.
        assert opened.phase_ticks in (0, detected) and 2 * opened.phase_ticks < opened.phase.unit_ticks, song
        assert opened.bars[0].steps == 16, song
    assert open_song(root / "pop909_606.mid", None, Meter(4, 4)).phase_ticks == 39
