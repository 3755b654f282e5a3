"""The top voice of a part with chords, and which bar a human-played note belongs to."""

import pytest

from clsm_cli.music.bars import song_bars
from clsm_cli.music.melody import in_bars, quantize_track, reduce_to_monophony, split_top_voice
from clsm_cli.music.midi_read import song_from_bytes
from clsm_cli.music.tokens import StepNote
from clsm_cli.music.voices import top_line, top_voice_mask
from synthetic_midi.midi_factory import SongSpec, TrackSpec
from tests.music.realistic_songs import BAR, SIXTEENTH, piano_song, pop_song

MIDDLE_C = 60


def piano_track(jitter):
    realistic, right, left = piano_song(jitter=jitter, seed=3)
    song = song_from_bytes(realistic.data, "piano.mid")
    (piano,) = [track for track in song.tracks if track.name == "Piano"]
    return song, piano, right, left


@pytest.mark.parametrize("jitter", [0, 10])
def test_the_piano_tune_is_the_top_voice_and_the_left_hand_stays_with_its_ticks(jitter):
    song, piano, right, left = piano_track(jitter)
    split = split_top_voice(piano, song_bars(song), song.ticks_per_beat)
    # The tune is above C4, the left-hand triads below it: the split is exactly the two hands.
    assert [voiced.note for voiced in split.top] == sorted(
        (note for note in piano.notes if note.pitch >= MIDDLE_C), key=lambda n: (n.start_tick, -n.pitch)
    )
    assert {voiced.note for voiced in split.others} == {note for note in piano.notes if note.pitch < MIDDLE_C}
    assert len(split.top) == len(right) and len(split.others) == len(left)
    # Every note is in one part, once, with its index and its ticks as read.
    indices = sorted(voiced.index for voiced in split.top + split.others)
    assert indices == list(range(len(piano.notes)))
    assert all(piano.notes[voiced.index] == voiced.note for voiced in split.top + split.others)


def test_a_left_hand_chord_under_a_held_tune_note_never_enters_the_line():
    # Beat 3 of every bar: a triad starts under a tune note held from the "and" of 2 and outlasts it.
    song, piano, right, _ = piano_track(jitter=10)
    bars = song_bars(song)
    line, dropped = reduce_to_monophony(quantize_track(piano, bars, song.ticks_per_beat).notes)
    assert [note.pitch for note in line] == [pitch for _, _, pitch, _ in right]
    assert all(note.pitch >= MIDDLE_C for note in line)
    assert dropped == len(piano.notes) - len(right)
    # The split's line is the same line: one rule.
    assert split_top_voice(piano, bars, song.ticks_per_beat).line() == line


def test_top_voice_mask_at_each_onset_the_highest_sounding_note():
    notes = [
        StepNote(0, 4, 48), StepNote(0, 4, 52), StepNote(0, 4, 72),  # a chord: its top note
        StepNote(4, 12, 74), StepNote(6, 16, 55),  # under a held note, outlasting it: accompaniment
        StepNote(12, 14, 72), StepNote(12, 14, 72),  # a doubled note: both top
        StepNote(16, 20, 50),  # the tune rests: the highest sounding note is the top voice
        StepNote(18, 20, 45),  # under it
    ]
    mask = top_voice_mask([n.start_step for n in notes], [n.end_step for n in notes], [n.pitch for n in notes])
    assert mask == [False, False, True, True, False, True, True, True, False]
    assert top_line(notes) == [StepNote(0, 4, 72), StepNote(4, 12, 74), StepNote(12, 14, 72), StepNote(16, 20, 50)]
    assert top_voice_mask([], [], []) == []


def test_a_higher_note_cuts_the_line_note_it_starts_over():
    notes = [StepNote(0, 8, 67, True), StepNote(4, 8, 71), StepNote(8, 10, 60)]
    assert top_line(notes) == [StepNote(0, 4, 67, True), StepNote(4, 8, 71), StepNote(8, 10, 60)]


# --- the bar a note belongs to ---------------------------------------------------------------------


def test_human_timing_quantizes_onto_the_written_grid():
    written = pop_song()
    played = pop_song(jitter=10, seed=11)
    for realistic in (written, played):
        song = song_from_bytes(realistic.data)
        (melody,) = [track for track in song.tracks if track.name == "Melody"]
        steps = [(note.start_step, note.pitch) for note in quantize_track(melody, song_bars(song)).notes]
        assert steps == [(start // SIXTEENTH, pitch) for start, _, pitch, _ in written.melody_notes]


def one_note_song(onset, ticks_per_beat=480):
    bar = 4 * ticks_per_beat
    notes = [(0, bar // 2, 60, 90), (onset, onset + ticks_per_beat, 67, 90), (3 * bar, 3 * bar + 60, 72, 90)]
    return song_from_bytes(SongSpec([TrackSpec(notes)], ticks_per_beat=ticks_per_beat).to_bytes())


@pytest.mark.parametrize(
    "onset, step, bar",
    [
        (BAR - 5, 16, 2),  # played 5 ticks early: on bar 2's first step, so in bar 2
        (BAR - 60, 16, 2),  # exactly half a step early: rounds later, into bar 2
        (BAR - 61, 15, 1),  # just over half a step early: stays in bar 1
        (BAR + 59, 16, 2),
        (BAR + 60, 17, 2),  # exactly half a step late rounds later
    ],
)
def test_a_note_belongs_to_the_bar_its_onset_rounds_into_half_up(onset, step, bar):
    song = one_note_song(onset)
    bars = song_bars(song)
    split = split_top_voice(song.tracks[0], bars, song.ticks_per_beat)
    (note,) = [voiced for voiced in split.top if voiced.note.pitch == 67]
    assert note.start_step == step and note.note.start_tick == onset
    assert in_bars(note, bars, bar, bar) and not in_bars(note, bars, 3 - bar, 3 - bar)
    assert StepNote(step, step + 4, 67) in quantize_track(song.tracks[0], bars).notes


@pytest.mark.parametrize("ticks_per_beat, half_step", [(96, 12), (120, 15), (384, 48)])
def test_half_up_at_other_resolutions(ticks_per_beat, half_step):
    bar = 4 * ticks_per_beat
    song = one_note_song(bar - half_step, ticks_per_beat)
    assert split_top_voice(song.tracks[0], song_bars(song)).top[1].start_step == 16
    song = one_note_song(bar - half_step - 1, ticks_per_beat)
    assert split_top_voice(song.tracks[0], song_bars(song)).top[1].start_step == 15


def test_a_legato_overlap_of_one_step_moves_the_line_on():
    legato = [StepNote(0, 5, 71), StepNote(4, 8, 69)]  # sung legato: the 71 rings into the 69
    assert top_line(legato) == [StepNote(0, 4, 71), StepNote(4, 8, 69)]
    grace_under = [StepNote(0, 5, 71), StepNote(4, 5, 69)]  # wholly under the 71: an inner note
    assert top_line(grace_under) == [StepNote(0, 5, 71)]
    held = [StepNote(0, 6, 71), StepNote(4, 8, 69)]  # the 71 goes on two more steps: a second voice
    assert top_line(held) == [StepNote(0, 6, 71)]
