"""Track summaries, melody-track choice, quantization and monophonic reduction."""

import pytest

from clsm_cli.errors import EXIT_USAGE, InputFileError, UsageError
from clsm_cli.music.bars import song_bars
from clsm_cli.music.melody import (
    choose_melody_track,
    find_track,
    is_monophonic,
    quantize_track,
    reduce_to_monophony,
    track_summaries,
)
from clsm_cli.music.midi_read import song_from_bytes
from clsm_cli.music.tokens import StepNote
from synthetic_midi.midi_factory import SongSpec, TrackSpec, melody_track, random_multitrack_song

STEP = 120  # ticks per 16th at 480 ticks per beat


def song_of(*tracks, **options):
    return song_from_bytes(SongSpec(list(tracks), **options).to_bytes(), "song.mid")


def chords(bars=4, name="Piano", channel=1, program=0):
    return TrackSpec(
        [(b * 1920 + h, b * 1920 + h + 960, p, 70) for b in range(bars) for h in (0, 960) for p in (48, 52, 55)],
        channel=channel, program=program, name=name,
    )


def tune(bars=4, name="Lead", channel=0, program=73, low=67):
    return melody_track([(i * 2, i * 2 + 2, low + i % 5) for i in range(bars * 8)], channel=channel, program=program, name=name)


def test_summaries_describe_every_track():
    song = song_of(tune(), chords(), TrackSpec([(i * 480, i * 480 + 60, 36, 100) for i in range(16)], channel=9, program=None))
    lead, piano, drums = track_summaries(song, bar_range=(2, 2))
    assert (lead.number, lead.label, lead.channel, lead.program, lead.notes) == (1, "Lead", 0, 73, 32)
    assert lead.polyphony == 0 and lead.pitch_range == (67, 71) and not lead.is_drum and not lead.is_bass
    assert lead.notes_in_range == 8
    assert piano.polyphony == pytest.approx(2 / 3) and piano.notes_in_range == 6
    assert drums.is_drum and drums.label == "Drums" and drums.notes_in_range == 4
    assert all(summary.notes_in_range is None for summary in track_summaries(song))


def test_legato_overlap_is_not_polyphony():
    legato = TrackSpec([(i * 480, i * 480 + 500, 60 + i % 3, 80) for i in range(8)])  # 20-tick overlaps
    (summary,) = track_summaries(song_of(legato))
    assert summary.polyphony == 0


def test_auto_choice_prefers_monophonic_non_bass_with_most_notes():
    bass = TrackSpec([(i * 240, i * 240 + 240, 36 + i % 4, 80) for i in range(64)], channel=2, program=33, name="Bass")
    drums = TrackSpec([(i * 120, i * 120 + 60, 42, 90) for i in range(128)], channel=9, program=None)
    song = song_of(chords(), bass, tune(), drums)
    assert choose_melody_track(song, None).name == "Lead"


def test_auto_choice_is_the_same_for_every_bar_range():
    # "Intro" plays only in bars 1-8, "Verse" only in bars 13-20 (with fewer notes overall).
    intro = melody_track([(i, i + 1, 70) for i in range(0, 128)], name="Intro", channel=0)
    verse = melody_track([(i, i + 2, 72) for i in range(192, 320, 2)], name="Verse", channel=1)
    song = song_of(intro, verse)
    assert choose_melody_track(song, None).name == "Intro"
    assert choose_melody_track(song, None, bar_range=(15, 16)).name == "Intro"


def test_only_drums_is_an_input_error():
    song = song_of(TrackSpec([(0, 60, 36, 90)], channel=9, program=None))
    with pytest.raises(InputFileError, match="only drum tracks"):
        choose_melody_track(song, None)


def test_requested_track_by_number_or_name():
    song = song_of(tune(), chords(), TrackSpec([(0, 60, 36, 90)], channel=9, program=None, name="Drums"))
    assert choose_melody_track(song, "2").name == "Piano"
    assert choose_melody_track(song, "piano").number == 2
    assert choose_melody_track(song, "lea").number == 1  # a unique part of a name
    assert find_track(song, "3").is_drum


@pytest.mark.parametrize("requested, words", [("7", "--track 7 does not exist"), ("violin", "neither a track number"),
                                              ("3", "is a drum track"), ("a", "matches tracks")])
def test_unknown_or_drum_track_is_a_usage_error_listing_tracks(requested, words):
    song = song_of(tune(name="Lead"), chords(name="Piano"), TrackSpec([(0, 60, 36, 90)], channel=9, program=None, name="Drums"))
    with pytest.raises(UsageError) as caught:
        choose_melody_track(song, requested)
    assert words in caught.value.message and caught.value.exit_code == EXIT_USAGE
    if words != "matches tracks":
        assert "1 Lead, 2 Piano, 3 Drums" in caught.value.message


def test_quantize_puts_notes_on_the_song_step_grid_across_meter_changes():
    # 4/4 then 3/4: bar 2 starts at step 16, bar 3 at step 28.
    notes = [(0, 480, 60, 90), (1920, 2400, 62, 90), (1920 + 1440 + 120, 1920 + 1440 + 360, 64, 90)]
    song = song_of(TrackSpec(notes), time_signatures=[(0, 4, 4), (1920, 3, 4)])
    bars = song_bars(song)
    quantized = quantize_track(song.tracks[0], bars)
    assert quantized.notes == [StepNote(0, 4, 60), StepNote(16, 20, 62), StepNote(29, 31, 64)]
    assert quantized.report.off_grid == 0 and quantized.report.summary() == ""
    assert quantize_track(song.tracks[0], bars, song.ticks_per_beat) == quantized


def test_quantize_report_counts_what_moved():
    notes = [
        (30, 470, 60, 90),  # off the grid by 30 ticks (a quarter step): moved
        (480 + 160, 480 + 320, 62, 90),  # a triplet eighth position (1/3 beat) and 2/3
        (1920, 1950, 64, 90),  # shorter than a step: lengthened
        (2400, 2880, 65, 90),
        (2400, 2640, 65, 90),  # duplicate onset, same pitch: merged
        (3000, 3400, 67, 90),
        (3240, 3600, 67, 90),  # overlaps the previous same pitch: trimmed
    ]
    song = song_of(TrackSpec(notes))
    report = quantize_track(song.tracks[0], song_bars(song)).report
    assert report.notes == 7
    assert report.off_grid == 4  # the moved note, the triplet, the short one and the overlapping 67 (3000 / 3400)
    assert report.triplets == 1
    assert report.lengthened == 1
    assert report.duplicates_merged == 1
    assert report.overlaps_trimmed == 1
    assert "off the 16th-note grid" in report.summary() and "triplets" in report.summary()
    quantized = quantize_track(song.tracks[0], song_bars(song)).notes
    assert StepNote(20, 24, 65) in quantized and StepNote(16, 17, 64) in quantized
    assert [n for n in quantized if n.pitch == 67] == [StepNote(25, 27, 67), StepNote(27, 30, 67)]


def test_reduce_to_monophony_highest_wins_and_counts_drops():
    notes = [
        StepNote(0, 4, 60), StepNote(0, 4, 64), StepNote(0, 4, 67),  # a chord: 67 stays
        StepNote(4, 12, 72), StepNote(6, 8, 65),  # an inner voice under a held top note: dropped
        StepNote(12, 16, 70), StepNote(14, 18, 74),  # a later onset cuts the note before it
    ]
    line, dropped = reduce_to_monophony(notes)
    assert line == [StepNote(0, 4, 67), StepNote(4, 12, 72), StepNote(12, 14, 70), StepNote(14, 18, 74)]
    assert dropped == 3
    assert is_monophonic(line) and not is_monophonic(notes)


def test_reduce_keeps_a_leading_tie_and_a_lone_line_unchanged():
    line = [StepNote(0, 3, 0, True), StepNote(3, 8, 62), StepNote(10, 12, 64)]
    assert reduce_to_monophony(line) == (line, 0)


def test_is_monophonic_tolerance():
    notes = [StepNote(i * 4, i * 4 + 4, 60) for i in range(9)] + [StepNote(0, 2, 48)]
    assert not is_monophonic(notes)
    assert is_monophonic(notes, tolerance=0.1)
    assert is_monophonic([])


@pytest.mark.parametrize("seed", range(5))
def test_random_songs_melody_quantizes_monophonic_and_on_grid(seed):
    spec = random_multitrack_song(seed, midi_type=1)
    song = song_from_bytes(spec.to_bytes())
    bars = song_bars(song)
    track = choose_melody_track(song, None)
    assert track.name == "Melody"
    quantized = quantize_track(track, bars)
    assert quantized.report.off_grid == 0 and quantized.report.triplets == 0
    assert is_monophonic(quantized.notes)
    assert reduce_to_monophony(quantized.notes) == (quantized.notes, 0)
    assert quantized.notes[-1].end_step <= bars[-1].end_step


def test_quantize_agrees_with_the_bar_grid_at_odd_resolutions():
    import random

    from clsm_cli.music.bars import tick_to_step

    rng = random.Random(5)
    for ticks_per_beat in (7, 96, 383, 1000):
        starts = sorted(rng.sample(range(40 * ticks_per_beat), 60))
        notes = [(s, s + rng.randint(1, 3 * ticks_per_beat), 60 + i % 12, 80) for i, s in enumerate(starts)]
        song = song_of(TrackSpec(notes), ticks_per_beat=ticks_per_beat,
                       time_signatures=[(0, 4, 4), (8 * ticks_per_beat, 3, 4), (17 * ticks_per_beat + 3, 6, 8)])
        bars = song_bars(song)
        quantized = quantize_track(song.tracks[0], bars, ticks_per_beat)
        expected = {(tick_to_step(bars, ticks_per_beat, n.start_tick), n.pitch) for n in song.tracks[0].notes}
        assert {(n.start_step, n.pitch) for n in quantized.notes} <= expected
        assert len(quantized.notes) + quantized.report.duplicates_merged == len(notes)


def test_bassoon_is_not_a_bass_but_a_bass_guitar_is():
    from clsm_cli.music.melody import is_bass_track
    from clsm_cli.music.song import MidiTrack

    def track(name, program=70):
        return MidiTrack(number=1, chunk=1, channel=0, name=name, program=program, is_drum=False, notes=[])

    assert not is_bass_track(track("Bassoon"))
    assert is_bass_track(track("Fretless Bass"))
    assert is_bass_track(track("Piano", program=33))


def test_a_triplet_grid_model_is_not_told_that_triplets_cannot_be_held():
    from clsm_cli.music.melody import QuantizeReport

    report = QuantizeReport(notes=20, off_grid=8, triplets=6, lengthened=0, overlaps_trimmed=0, duplicates_merged=0)
    assert "6 looked like triplets" in report.summary() and "8 of 20" in report.summary()
    assert report.summary(triplet_grid=True) == "2 of 20 notes were off the 16th-note grid and moved onto it"
    only_triplets = QuantizeReport(notes=9, off_grid=3, triplets=3, lengthened=0, overlaps_trimmed=0, duplicates_merged=0)
    assert only_triplets.summary(triplet_grid=True) == ""
