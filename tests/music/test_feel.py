"""New notes take the context's feel (music/feel.py through edit_plan), and exact copies stay exact."""

import random
import statistics
from pathlib import Path

import pytest

from clsm_cli.music.bars import BarRange, song_bars, step_to_tick
from clsm_cli.music.edit_plan import plan_edit
from clsm_cli.music.melody import quantize_line
from clsm_cli.music.midi_read import read_midi
from clsm_cli.music.midi_write import write_edited_song
from clsm_cli.music.tokens import StepNote
from synthetic_midi.midi_factory import TrackSpec, make_midi

DEV_MIDI = Path(__file__).resolve().parent.parent / "fixtures" / "dev_midi"
TPB = 480
TARGET = BarRange(3, 4)  # steps 32..64 of a 4/4 song, ticks 3840..7680


def straight_eighths(first_step=32, end_step=64, pitches=(72, 74, 76, 77)):
    return [StepNote(step, step + 2, pitches[(step // 2) % len(pitches)]) for step in range(first_step, end_step, 2)]


def dotted_pairs(first_step=32, end_step=64, pitches=(72, 71, 69, 67, 69)):
    """A dotted 8th and a 16th a quarter: how the 16th grid writes a swung pair (360 + 120)."""
    return [StepNote(step + offset, step + offset + length, pitches[(step // 2 + offset) % len(pitches)])
            for step in range(first_step, end_step, 4) for offset, length in ((0, 3), (3, 1))]


def edit(tmp_path, notes, new_notes, target=TARGET, name="in.mid", ticks_per_beat=TPB):
    path = make_midi(tmp_path / name, [TrackSpec(notes, name="Lead")], ticks_per_beat=ticks_per_beat)
    song = read_midi(path)
    bars = song_bars(song)
    out = write_edited_song(song, song.tracks[0], bars, target, new_notes, tmp_path / f"out-{name}", "p", force=True)
    return song, bars, read_midi(out)


def offsets_by_position(notes, bars, ticks_per_beat, inside):
    """Median onset offset from the nearest 16th, per position in the quarter, of notes ``inside(tick)``."""
    grouped = {}
    for note in notes:
        if inside(note.start_tick):
            step = (8 * note.start_tick + ticks_per_beat) // (2 * ticks_per_beat)  # nearest 16th, halves up
            grouped.setdefault(step % 4, []).append(note.start_tick - step_to_tick(bars, ticks_per_beat, step))
    return {position: statistics.median(values) for position, values in grouped.items()}


def target_ticks(bars, target=TARGET):
    first, end = target.tick_span(bars)
    return lambda tick: first <= tick < end


def context_ticks(bars, target=TARGET):
    first, end = target.tick_span(bars)
    return lambda tick: not first <= tick < end


def swung_notes(num_bars=8, long=320, jitter=0, seed=0):
    rng = random.Random(seed)
    notes = []
    for quarter in range(4 * num_bars):
        for index, (offset, length) in enumerate(((0, long), (long, TPB - long))):
            start = max(0, quarter * TPB + offset + rng.randint(-jitter, jitter))
            notes.append((start, quarter * TPB + offset + length - 10, 67 + (quarter + index) % 7, 90))
    return notes


@pytest.mark.parametrize("long, jitter", [(320, 0), (300, 0), (320, 12)])
def test_on_a_swung_context_new_notes_take_its_offsets_per_position(tmp_path, long, jitter):
    song, bars, edited = edit(tmp_path, swung_notes(long=long, jitter=jitter), dotted_pairs())
    context = offsets_by_position(song.tracks[0].notes, bars, TPB, context_ticks(bars))
    new = offsets_by_position(edited.tracks[0].notes, bars, TPB, target_ticks(bars))
    assert set(new) == {0, 3} and context[3] <= -20  # the off-beat 8th comes early: swing, not a dotted 16th
    for position, offset in new.items():
        assert abs(offset - context[position]) <= 10


def test_on_a_quantized_context_new_notes_sit_exactly_on_the_grid(tmp_path):
    notes = [(step * 240, step * 240 + 200, 60 + step % 12, 90) for step in range(64)]
    _, bars, edited = edit(tmp_path, notes, straight_eighths())
    new = [note.start_tick for note in edited.tracks[0].notes if target_ticks(bars)(note.start_tick)]
    assert new == [3840 + 240 * index for index in range(16)]


def test_a_human_timed_context_lends_its_push_and_lag(tmp_path):
    rng = random.Random(3)
    # On the beat 15 ticks late, off the beat 20 early, each note within 8 ticks of that.
    notes = [(max(0, step * 240 + (15 if step % 2 == 0 else -20) + rng.randint(-8, 8)), step * 240 + 230, 64, 80)
             for step in range(64)]
    song, bars, edited = edit(tmp_path, notes, straight_eighths())
    context = offsets_by_position(song.tracks[0].notes, bars, TPB, context_ticks(bars))
    new = offsets_by_position(edited.tracks[0].notes, bars, TPB, target_ticks(bars))
    assert all(abs(new[position] - context[position]) <= 10 for position in (0, 2))


def test_a_constant_offset_is_a_shift_even_where_the_context_has_no_note(tmp_path):
    notes = [(quarter * TPB + 1, quarter * TPB + TPB, 67, 90) for quarter in range(32)]  # quarters, one tick late
    new_line = [StepNote(step, step + 1, 72) for step in range(32, 64)]  # 16ths: positions 1 and 3 unseen
    _, bars, edited = edit(tmp_path, notes, new_line)
    new = [note.start_tick for note in edited.tracks[0].notes if 3840 <= note.start_tick < 7680]
    assert new == [3840 + 120 * index + 1 for index in range(32)]


def test_no_new_onset_moves_before_the_target_or_past_the_next_note(tmp_path):
    # Every context note on the beat is played 100 ticks early: the first new note cannot go before bar 3.
    notes = [(max(0, quarter * TPB - 100), quarter * TPB + 300, 67, 90) for quarter in range(32) if not 8 <= quarter < 16]
    _, bars, edited = edit(tmp_path, notes, [StepNote(32, 36, 72), StepNote(36, 37, 74), StepNote(37, 64, 76)])
    starts = sorted(note.start_tick for note in edited.tracks[0].notes if 3740 <= note.start_tick < 7680)
    assert starts[0] == 3840  # clamped to the target's first tick
    assert starts[1] < starts[2] <= 4440  # onsets in order, each before the next note's onset
    assert all(note.end_tick > note.start_tick for note in edited.tracks[0].notes)


def test_the_swung_hornpipe_from_cre_keeps_its_swing_on_new_notes(tmp_path):
    path = DEV_MIDI / "cre_BaconandBeanshornpipe.mid"
    song = read_midi(path)
    bars = song_bars(song)
    out = write_edited_song(song, song.tracks[0], bars, TARGET, dotted_pairs(), tmp_path / "out.mid", "p", force=True)
    edited = read_midi(out)
    context = offsets_by_position(song.tracks[0].notes, bars, song.ticks_per_beat, context_ticks(bars))
    new = offsets_by_position(edited.tracks[0].notes, bars, song.ticks_per_beat, target_ticks(bars))
    assert context[3] == -39 and context[0] == 1  # 321 against 360: swung as triplets, one tick late
    assert new == {0: 1, 3: -39}  # new notes: 320 + 160 again, not 360 + 120
    assert all(abs(new[position] - context[position]) <= 10 for position in new)


# --- exact copies ----------------------------------------------------------------------------------


def read_target_line(tmp_path, notes):
    """A one-track song of ``notes`` (ticks) read as an edit reads it: the song, its bars, and the
    line's notes in TARGET unchanged (what a candidate equal to the original bars holds)."""
    song = read_midi(make_midi(tmp_path / "in.mid", [TrackSpec(notes, name="Lead")]))
    bars = song_bars(song)
    line, _ = quantize_line(song.tracks[0], bars, TPB)
    first_step, end_step = TARGET.step_span(bars)
    return song, bars, [note for note in line if first_step <= note.start_step < end_step]


def test_new_notes_equal_to_the_target_notes_keep_their_ticks_and_velocities(tmp_path):
    rng = random.Random(7)
    notes = []
    for step in range(0, 128, 2):  # human-timed 8ths: onsets and lengths a few ticks off, accents
        start = max(0, step * 120 + rng.randint(-9, 9))
        notes.append((start, start + rng.choice((133, 180, 221)), 60 + rng.randint(0, 12), rng.randint(60, 110)))
    song, bars, same = read_target_line(tmp_path, notes)
    plan = plan_edit(song.chunk_notes[song.tracks[0].chunk], bars, TPB, TARGET, same)
    assert plan.replaced == frozenset() and plan.new_notes == () and plan.unchanged == len(same)
    out = write_edited_song(song, song.tracks[0], bars, TARGET, same, tmp_path / "out.mid", "p", force=True)
    assert [(n.start_tick, n.end_tick, n.pitch, n.velocity) for n in read_midi(out).tracks[0].notes] == [
        (n.start_tick, n.end_tick, n.pitch, n.velocity) for n in song.tracks[0].notes]


def test_only_the_notes_the_line_changes_are_written_anew(tmp_path):
    notes = [(step * 240 + 7, step * 240 + 140, 60 + step % 5, 70 + step % 30) for step in range(64)]
    song, bars, same = read_target_line(tmp_path, notes)
    changed = [StepNote(n.start_step, n.end_step, 79) if index == 3 else n for index, n in enumerate(same)]
    plan = plan_edit(song.chunk_notes[song.tracks[0].chunk], bars, TPB, TARGET, changed)
    assert plan.unchanged == len(same) - 1 and len(plan.new_notes) == 1 and len(plan.replaced) == 1
    assert plan.new_notes[0].pitch == 79 and plan.new_notes[0].start_tick == 3840 + 3 * 240 + 7  # the context's feel
