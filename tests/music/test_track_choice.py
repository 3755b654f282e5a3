"""The melody track of real-looking songs: chosen once per song, by name, register, one line and
coverage, with a reason a musician can check."""

import pytest

from clsm_cli.errors import UsageError
from clsm_cli.music.bars import song_bars
from clsm_cli.music.melody import choose_melody_track
from clsm_cli.music.midi_read import song_from_bytes
from clsm_cli.music.track_choice import (
    choose_melody,
    has_notes_near,
    rank_tracks,
    is_bass_track,
    name_cue,
    name_words,
    silent_target_warning,
)
from synthetic_midi.midi_factory import SongSpec, TrackSpec
from tests.music.realistic_songs import (
    BARS,
    POP_ORDER,
    jazz_trio,
    muted_guitar_song,
    piano_song,
    pop_song,
    tune,
)

MELODY_CHANNEL = 4  # pop_song's melody


def read(realistic, name="song.mid"):
    return song_from_bytes(realistic.data, name)


def track_named(song, name):
    (track,) = [track for track in song.tracks if track.name == name]
    return track


ORDERS = [
    POP_ORDER,
    ("melody", "lead_guitar", "pad", "bass", "drums"),
    ("lead_guitar", "drums", "melody", "bass", "pad"),
]
NAMES_AND_CUES = [("Melody", "named melody"), ("Vocal", "named vocal"), ("Lead Vox", "named vocal")]


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("melody_name, cue", NAMES_AND_CUES)
def test_the_named_melody_wins_over_a_busier_lead_guitar_in_any_order(order, melody_name, cue):
    song = read(pop_song(melody_name, order=order, jitter=10, seed=len(order[0])))
    choice = choose_melody(song)
    assert choice.track.name == melody_name and choice.track.channel == MELODY_CHANNEL
    assert choice.reason.startswith(f"track {choice.track.number} '{melody_name}': {cue}, above C4 100%, monophonic")
    assert not choice.requested
    guitar = track_named(song, "Lead Guitar")
    assert len(guitar.notes) > len(choice.track.notes)  # the guitar is busier, yet silent half the song
    runners_up = [candidate.track.name for candidate in choice.runners_up]
    assert runners_up[0] == "Lead Guitar" and "named lead" in choice.runners_up[0].reason
    assert set(runners_up) == {"Lead Guitar", "Pad", "Bass"}  # drums are never candidates


@pytest.mark.parametrize("order", ORDERS)
def test_type_0_without_names_the_melody_wins_by_register_line_and_coverage(order):
    song = read(pop_song(order=order, midi_type=0, jitter=10))
    choice = choose_melody(song)
    assert choice.track.channel == MELODY_CHANNEL and choice.track.name == ""
    assert choice.reason == f"track {choice.track.number} 'channel 5': above C4 100%, monophonic, covers 100% of bars"
    assert "covers 50% of bars" in choice.runners_up[0].reason  # the lead guitar, which rests


def test_the_choice_is_one_per_song_whatever_bars_are_edited():
    # The lead guitar plays 16ths in the second half only: busiest overall, silent in bars 1-8.
    song = read(pop_song(guitar_bars=tuple(range(8, 16))))
    bars = song_bars(song)
    melody = choose_melody(song).track
    for first in range(1, BARS):
        for bar_range in ((first, first), (first, first + 1)):
            assert choose_melody_track(song, None, bar_range, bars) is melody, bar_range


def test_a_vocal_name_outranks_lead_and_equals_go_to_the_lower_track_number():
    line = [(start, end, pitch, velocity) for start, end, pitch, velocity in tune()]
    for names in (("Lead", "Vocals"), ("Vocals", "Lead")):
        tracks = [TrackSpec(line, channel=index, program=0, name=name) for index, name in enumerate(names)]
        song = song_from_bytes(SongSpec(tracks).to_bytes())
        assert choose_melody(song).track.name == "Vocals"
    same = [TrackSpec(line, channel=index, program=0, name="Vocals") for index in range(2)]
    song = song_from_bytes(SongSpec(same).to_bytes())
    first, second = rank_tracks(song)
    assert first.score == second.score and choose_melody(song).track.number == 1  # equal: the lower track number


def test_between_tracks_named_alike_the_lower_number_wins_unless_clearly_weaker():
    line = [(start, end, pitch, velocity) for start, end, pitch, velocity in tune()]
    twins = [TrackSpec(line, channel=index, program=0, name=f"Melody {index + 1}") for index in range(2)]
    song = song_from_bytes(SongSpec(twins[::-1]).to_bytes())  # "Melody 2" comes first in the file
    chosen = choose_melody(song)
    assert (chosen.track.number, chosen.track.name) == (2, "Melody 1")
    assert "lowest number" in chosen.reason
    # "Melody 2" a little stronger (a GM reed program, +1): still "Melody 1".
    song = song_from_bytes(SongSpec([TrackSpec(line, channel=0, program=0, name="Melody 1"),
                                     TrackSpec(line, channel=1, program=65, name="Melody 2")]).to_bytes())
    assert choose_melody(song).track.name == "Melody 1"
    # "Melody 1" a bass an octave below C3 (register, a bass program): clearly weaker, "Melody 2" wins.
    low = [(start, end, pitch - 36, velocity) for start, end, pitch, velocity in line]
    song = song_from_bytes(SongSpec([TrackSpec(low, channel=0, program=33, name="Melody 1"),
                                     TrackSpec(line, channel=1, program=0, name="Melody 2")]).to_bytes())
    assert choose_melody(song).track.name == "Melody 2"


def test_an_accompaniment_only_song_has_no_melody_and_doublings_are_named():
    line = [(start, end, pitch, velocity) for start, end, pitch, velocity in tune()]
    chords = [TrackSpec(line, channel=0, program=0, name="Chord"), TrackSpec(line, channel=1, program=89, name="Pad")]
    choice = choose_melody(song_from_bytes(SongSpec(chords).to_bytes()))
    assert not choice.looks_like_melody and "no track looks like a melody" in choice.reason
    assert choose_melody(song_from_bytes(SongSpec(chords).to_bytes()), "1").looks_like_melody  # --track decides
    bar = 4 * 480  # a 4/4 bar at 480 ticks per quarter
    octave_later = [(start + 2 * bar, end + 2 * bar, pitch + 12, velocity) for start, end, pitch, velocity in line]
    song = song_from_bytes(SongSpec([TrackSpec(line, channel=0, program=0, name="Melody"),
                                     TrackSpec(octave_later, channel=1, program=73, name="Flute")]).to_bytes())
    choice = choose_melody(song)
    assert choice.track.name == "Melody" and [(d.track.name, d.octaves, d.bar_shift) for d in choice.doubled_by] == [
        ("Flute", 1, 2)]
    assert "track 2 (Flute) doubles it 1 octave above, 2 bars later" in choice.doubling_warnings()[0]


@pytest.mark.parametrize("shift", [0, 24])
def test_a_walking_bass_named_walk_is_never_the_melody(shift):
    song = read(jazz_trio(walk_octave_shift=shift, jitter=10))
    walk = track_named(song, "Walk")
    assert len(walk.notes) > len(track_named(song, "Tenor Sax").notes) and walk.program == 0
    choice = choose_melody(song)
    assert choice.track.name == "Tenor Sax"
    assert "GM reed program, above C4 100%" in choice.reason
    (walk_candidate,) = [candidate for candidate in choice.runners_up if candidate.track is walk]
    assert walk_candidate.reason.startswith(f"track {walk.number} 'Walk': named walking bass, ")
    assert is_bass_track(walk)


def test_a_low_muted_guitar_loses_to_the_melody():
    song = read(muted_guitar_song(jitter=10))
    guitar = track_named(song, "Muted Gtr")
    assert all(42 <= note.pitch <= 56 for note in guitar.notes)  # F#2-G#3
    assert len(guitar.notes) > 2 * len(track_named(song, "Melody").notes)
    choice = choose_melody(song)
    assert choice.track.name == "Melody"
    assert choice.runners_up[0].reason == f"track {guitar.number} 'Muted Gtr': below C4 100%, monophonic, covers 100% of bars"


def test_a_piano_with_its_tune_on_top_beats_a_bass():
    realistic, _, _ = piano_song(jitter=10)
    song = read(realistic)
    choice = choose_melody(song)
    assert choice.track.name == "Piano"
    assert "top voice above C4 100%, chords" in choice.reason
    assert choice.runners_up[0].reason.startswith("track 1 'Bass': named bass, GM bass program, below C4 100%")


def test_requested_track_overrides_and_says_so():
    song = read(pop_song())
    choice = choose_melody(song, "lead guitar")
    assert choice.track.name == "Lead Guitar" and choice.requested and choice.runners_up == ()
    assert choice.reason == f"track {choice.track.number} 'Lead Guitar': chosen with --track"
    with pytest.raises(UsageError, match="is a drum track"):
        choose_melody(song, "Drums")


def test_a_silent_track_in_the_target_gets_a_warning_naming_it():
    song = read(pop_song())
    bars = song_bars(song)
    guitar = track_named(song, "Lead Guitar")  # plays in bars 5-8 and 13-16
    def near(first, last):
        return has_notes_near(guitar, bars, song.ticks_per_beat, first, last)

    assert not near(1, 2) and not near(3, 3) and not near(10, 11)
    assert near(4, 4) and near(9, 10) and near(16, 16)
    warning = silent_target_warning(song, guitar, bars, 1, 2)
    assert warning.startswith(f"track {guitar.number} (Lead Guitar) has no notes in or around bars 1-2 of song.mid")
    assert "--track" in warning and "5 Melody" in warning
    assert silent_target_warning(song, choose_melody(song).track, bars, 1, 2) is None


@pytest.mark.parametrize(
    "name, kind",
    [
        ("Lead Vocals", "vocal"), ("LeadVox", "vocal"), ("melody_2", "melody"), ("MELODY", "melody"),
        ("Main Theme", "melody"), ("Guitar Solo", "lead"), ("Singer", "vocal"), ("Strings Melody", "melody"),
        ("Backing Vocals", "backing part"), ("Bass Lead", "bass"), ("Fretless Bassline", "bass"),
        ("Walk", "walking bass"), ("Synth Pad", "pad"), ("Chords", "chords"), ("Acc", "accompaniment"),
        ("Perc 2", "percussion"), ("Bassoon", None), ("Accordion", None), ("Piano", None), ("", None),
        ("Single Coil Gtr", None), ("Padded Synth", None), ("Complex", None), ("Comping", "comping"),
    ],
)
def test_names_are_read_as_words_and_word_prefixes(name, kind):
    cue = name_cue(name)
    assert (cue.kind if cue else None) == kind


def test_name_words_split_at_case_and_punctuation():
    assert name_words("LeadVox_2 (Chorus)") == ["lead", "vox", "chorus"]
