"""quantize_track, quantize_line and polyphony_share work on numpy columns: they must agree with
the note-by-note algorithms written plainly here, on both kinds of track (MidiTrack, NoteTrack)."""

from __future__ import annotations

import bisect
import random

import pytest

from clsm_cli.music.bars import Bar, song_bars
from clsm_cli.music.melody import (
    LEGATO_TOLERANCE_BEATS,
    QuantizeReport,
    polyphony_share,
    quantize_line,
    quantize_track,
    reduce_to_monophony,
)
from clsm_cli.music.midi_read import song_from_bytes
from clsm_cli.music.song import MidiNote, MidiTrack, NoteTable
from clsm_cli.music.tokens import StepNote
from synthetic_midi.midi_factory import SongSpec, TrackSpec, random_multitrack_song


def reference_place(bars: list[Bar], ticks_per_beat: int, tick: int) -> tuple[int, bool, bool]:
    """(step, off grid, triplet) of one tick, note by note."""
    tpb = ticks_per_beat
    bar = bars[max(0, bisect.bisect_right([b.start_tick for b in bars], tick) - 1)]
    offset = tick - bar.start_tick
    steps = (8 * offset + tpb) // (2 * tpb)
    if bar.number < len(bars) and steps > bar.steps:
        steps = bar.steps
    off_grid = abs(32 * offset - 8 * steps * tpb) > tpb
    position = offset % tpb
    near_sixteenth = any(abs(48 * position - 12 * k * tpb) <= tpb for k in range(5))
    near_triplet = any(abs(48 * position - 8 * k * tpb) <= tpb for k in (1, 2, 4, 5))
    return bar.first_step + steps, off_grid, near_triplet and not near_sixteenth


def reference_quantize(notes: list[MidiNote], bars: list[Bar], ticks_per_beat: int):
    off_grid = triplets = lengthened = 0
    snapped = []
    for note in notes:
        start, start_moved, triplet = reference_place(bars, ticks_per_beat, note.start_tick)
        end, end_moved, _ = reference_place(bars, ticks_per_beat, note.end_tick)
        off_grid += start_moved or end_moved
        triplets += triplet
        if end <= start:
            end, lengthened = start + 1, lengthened + 1
        snapped.append(StepNote(start, end, note.pitch))
    trimmed = merged = 0
    by_pitch: dict[int, list[StepNote]] = {}
    for note in sorted(snapped, key=lambda n: (n.pitch, n.start_step, -n.end_step)):
        line = by_pitch.setdefault(note.pitch, [])
        if line and line[-1].start_step == note.start_step:
            merged += 1
            continue
        if line and line[-1].end_step > note.start_step:
            line[-1] = StepNote(line[-1].start_step, note.start_step, note.pitch)
            trimmed += 1
        line.append(note)
    result = sorted((n for line in by_pitch.values() for n in line), key=lambda n: (n.start_step, -n.pitch))
    return result, QuantizeReport(len(notes), off_grid, triplets, lengthened, trimmed, merged)


def reference_polyphony(notes: list[MidiNote], ticks_per_beat: int) -> float:
    if not notes:
        return 0.0
    tolerance = LEGATO_TOLERANCE_BEATS * ticks_per_beat
    overlapping, sounding_until, previous_start = 0, None, None
    for note in notes:
        chord = note.start_tick == previous_start
        if sounding_until is not None and (note.start_tick < sounding_until - tolerance or chord):
            overlapping += 1
        sounding_until = note.end_tick if sounding_until is None else max(sounding_until, note.end_tick)
        previous_start = note.start_tick
    return overlapping / len(notes)


def random_songs():
    """Random songs with jitter, odd resolutions, meter changes (and so cut-short bars when a
    signature is moved off the bar line), chords, repeated pitches and very short notes."""
    for seed in range(16):
        spec = random_multitrack_song(seed, num_bars=8, meter_changes=True, jitter_ticks=(seed % 4) * 9)
        if seed % 3 == 0 and len(spec.time_signatures) > 1:
            tick, numerator, denominator = spec.time_signatures[1]
            spec.time_signatures[1] = (tick + spec.ticks_per_beat // 3, numerator, denominator)
        yield seed, song_from_bytes(spec.to_bytes(), f"song{seed}.mid")


def test_quantize_and_polyphony_match_the_note_by_note_algorithms():
    checked = cut_short = 0
    for _, song in random_songs():
        bars = song_bars(song)
        cut_short += any(not bar.is_complete for bar in bars[:-1])
        table = NoteTable.from_song(song)
        for track, note_track in zip(song.tracks, table.tracks):
            expected_notes, expected_report = reference_quantize(track.notes, bars, song.ticks_per_beat)
            for either in (track, note_track):
                quantized = quantize_track(either, bars, song.ticks_per_beat)
                assert (quantized.notes, quantized.report) == (expected_notes, expected_report)
                assert quantize_line(either, bars, song.ticks_per_beat) == reduce_to_monophony(expected_notes)
                expected_share = reference_polyphony(track.notes, song.ticks_per_beat)
                assert polyphony_share(either, song.ticks_per_beat) == expected_share
            checked += 1
    assert checked > 50 and cut_short > 0


def test_quantize_line_reduces_chords_and_overlaps():
    # Two notes on one step (a chord) and a held note with a shorter one under it.
    notes = [(0, 480, 60, 90), (0, 480, 64, 90), (480, 1920, 72, 90), (600, 840, 67, 90), (1920, 2400, 62, 90)]
    song = song_from_bytes(SongSpec([TrackSpec(notes)]).to_bytes())
    bars = song_bars(song)
    line, dropped = quantize_line(song.tracks[0], bars, song.ticks_per_beat)
    assert (line, dropped) == ([StepNote(0, 4, 64), StepNote(4, 16, 72), StepNote(16, 20, 62)], 2)
    assert (line, dropped) == reduce_to_monophony(quantize_track(song.tracks[0], bars, song.ticks_per_beat).notes)


@pytest.mark.parametrize("seed", range(6))
def test_tracks_without_notes_and_single_notes(seed):
    rng = random.Random(seed)
    song = song_from_bytes(SongSpec([TrackSpec([(0, 480, 60, 90)])]).to_bytes())
    bars = song_bars(song)
    empty = MidiTrack(1, 1, 0, "", 0, False, [])
    assert quantize_track(empty, bars, 480).notes == [] and quantize_line(empty, bars, 480) == ([], 0)
    assert polyphony_share(empty, 480) == 0.0
    tick = rng.randrange(0, 1800)
    single = MidiTrack(1, 1, 0, "", 0, False, [MidiNote(tick, tick + rng.randint(1, 200), 70, 90)])
    expected, report = reference_quantize(single.notes, bars, 480)
    assert quantize_track(single, bars, 480).notes == expected and quantize_track(single, bars, 480).report == report
