"""Bar lines from time signatures, the song step grid, and --bars parsing."""

import pytest

from clsm_cli.errors import EXIT_INPUT, EXIT_USAGE, InputFileError, UsageError
from clsm_cli.music.bars import (
    BarRange,
    song_bars,
    step_to_tick,
    tick_to_step,
)
from clsm_cli.timebase import Meter
from clsm_cli.music.midi_read import song_from_bytes
from synthetic_midi.midi_factory import SongSpec, TrackSpec, random_bar_plan, random_multitrack_song


def song_with(notes_end: int, time_signatures, ticks_per_beat=480, name="song.mid"):
    spec = SongSpec(
        tracks=[TrackSpec([(0, notes_end, 60, 90)])],
        ticks_per_beat=ticks_per_beat,
        time_signatures=time_signatures,
    )
    return song_from_bytes(spec.to_bytes(), name)


@pytest.mark.parametrize(
    "meter, steps", [((4, 4), 16), ((2, 2), 16), ((3, 4), 12), ((6, 8), 12), ((2, 4), 8), ((5, 4), 20), ((7, 8), 14)]
)
def test_meter_steps_count_sixteenths(meter, steps):
    assert Meter(*meter).steps_per_bar == steps


def test_meter_that_is_not_whole_sixteenths_is_refused():
    with pytest.raises(ValueError):
        Meter(7, 32)
    song = song_with(4000, [(0, 7, 32)])
    with pytest.raises(InputFileError, match="7/32"):
        song_bars(song)


def test_no_time_signature_means_4_4_and_is_flagged():
    song = song_with(4 * 1920, [])
    assert not song.had_time_signature
    bars = song_bars(song)
    assert [(bar.start_tick, bar.end_tick, bar.meter, bar.steps) for bar in bars] == [
        (i * 1920, (i + 1) * 1920, (4, 4), 16) for i in range(4)
    ]


def test_meter_changes_move_bar_lines_and_steps_add_up():
    # 2 bars of 4/4, 3 bars of 3/4, 1 bar of 6/8, then 2/2.
    signatures = [(0, 4, 4), (3840, 3, 4), (3840 + 3 * 1440, 6, 8), (3840 + 4 * 1440, 2, 2)]
    song = song_with(3840 + 4 * 1440 + 1920, signatures)
    bars = song_bars(song)
    assert [bar.meter for bar in bars] == [(4, 4)] * 2 + [(3, 4)] * 3 + [(6, 8)] + [(2, 2)]
    assert [bar.steps for bar in bars] == [16, 16, 12, 12, 12, 12, 16]
    assert [bar.first_step for bar in bars] == [0, 16, 32, 44, 56, 68, 80]
    assert [bar.number for bar in bars] == list(range(1, 8))
    assert all(bar.is_complete for bar in bars)
    for previous, bar in zip(bars, bars[1:]):
        assert previous.end_tick == bar.start_tick and previous.end_step == bar.first_step


def test_tempo_changes_do_not_move_bar_lines():
    base = SongSpec([TrackSpec([(0, 4 * 1920, 60, 90)])], tempos=[(0, 500_000)])
    changed = SongSpec([TrackSpec([(0, 4 * 1920, 60, 90)])], tempos=[(0, 500_000), (700, 300_000), (3000, 900_000)])
    bars_a = song_bars(song_from_bytes(base.to_bytes()))
    bars_b = song_bars(song_from_bytes(changed.to_bytes()))
    assert bars_a == bars_b


def test_time_signature_off_the_bar_line_starts_a_new_bar():
    # A 3/4 signature half way through the second 4/4 bar cuts that bar to 8 steps.
    song = song_with(1920 + 960 + 2 * 1440, [(0, 4, 4), (1920 + 960, 3, 4)])
    bars = song_bars(song)
    assert [(bar.start_tick, bar.end_tick, bar.meter, bar.steps) for bar in bars] == [
        (0, 1920, (4, 4), 16),
        (1920, 2880, (4, 4), 8),
        (2880, 4320, (3, 4), 12),
        (4320, 5760, (3, 4), 12),
    ]
    assert not bars[1].is_complete and bars[2].is_complete
    assert bars[2].first_step == 24


def test_signature_after_the_last_note_does_not_cut_the_last_bar():
    song = song_with(1000, [(0, 4, 4), (1200, 3, 4)])
    bars = song_bars(song)
    assert [(bar.start_tick, bar.end_tick, bar.steps) for bar in bars] == [(0, 1920, 16)]


def test_bars_cover_the_last_note_and_no_more():
    assert len(song_bars(song_with(1920, [(0, 4, 4)]))) == 1
    assert len(song_bars(song_with(1921, [(0, 4, 4)]))) == 2
    assert len(song_bars(song_with(5 * 1920, [(0, 4, 4)]))) == 5


def test_same_tick_signatures_last_one_wins():
    song = song_with(2 * 1440, [(0, 4, 4), (0, 3, 4)])
    assert [bar.meter for bar in song_bars(song)] == [(3, 4), (3, 4)]


def test_coarse_resolution_that_cannot_hold_a_bar_is_an_input_error():
    song = song_with(30, [(0, 3, 8)], ticks_per_beat=1)
    with pytest.raises(InputFileError, match="ticks per beat"):
        song_bars(song)


@pytest.mark.parametrize("seed", range(10))
def test_random_songs_bars_match_an_independent_count(seed):
    spec = random_multitrack_song(seed)
    bars = song_bars(song_from_bytes(spec.to_bytes()))
    assert [(bar.start_tick, bar.length_ticks, bar.numerator, bar.denominator) for bar in bars] == random_bar_plan(spec)


@pytest.mark.parametrize("ticks_per_beat", [96, 120, 480, 1000])
def test_tick_step_conversions_round_trip_on_the_grid(ticks_per_beat):
    signatures = [(0, 4, 4), (8 * ticks_per_beat, 3, 4), (14 * ticks_per_beat, 6, 8)]
    song = song_with(20 * ticks_per_beat, signatures, ticks_per_beat=ticks_per_beat)
    bars = song_bars(song)
    for step in range(bars[-1].end_step + 1):
        assert tick_to_step(bars, ticks_per_beat, step_to_tick(bars, ticks_per_beat, step)) == step
    # Halfway between two steps rounds up; just below rounds down.
    quarter = ticks_per_beat // 4
    if quarter % 2 == 0:
        assert tick_to_step(bars, ticks_per_beat, quarter // 2) == 1
        assert tick_to_step(bars, ticks_per_beat, quarter // 2 - 1) == 0


def test_range_ticks_and_steps():
    song = song_with(3840 + 3 * 1440, [(0, 4, 4), (3840, 3, 4)])
    bars = song_bars(song)
    assert BarRange(2, 3).tick_span(bars) == (1920, 3840 + 1440)
    assert BarRange(2, 3).step_span(bars) == (16, 44)


@pytest.mark.parametrize(
    "text, expected",
    [("3-4", (3, 4)), ("3", (3, 3)), (" 3 - 4 ", (3, 4)), ("3\u20134", (3, 4)), ("12-12", (12, 12)), ("1 \u2014 2", (1, 2))],
)
def test_parse_bar_range_accepts(text, expected):
    assert tuple(BarRange.parse(text)) == expected


@pytest.mark.parametrize("text", ["4-3", "0-2", "0", "-3", "3-", "a-b", "", "3-4-5", "3.5", "-1-2", "3,4"])
def test_parse_bar_range_refuses_with_a_usage_error(text):
    with pytest.raises(UsageError) as caught:
        BarRange.parse(text)
    assert caught.value.exit_code == EXIT_USAGE
    assert caught.value.message == f"--bars must look like 3-4 (first-last, counted from 1), got '{text}'"


def test_check_bar_range_names_the_file_and_its_length():
    bars = song_bars(song_with(8 * 1920, [(0, 4, 4)]))
    BarRange(7, 8).check_inside(bars, "song.mid")  # inside: no error
    with pytest.raises(InputFileError) as caught:
        BarRange(9, 10).check_inside(bars, "song.mid")
    assert caught.value.message == "bars 9-10 are past the end of song.mid (8 bars)"
    assert caught.value.exit_code == EXIT_INPUT
    with pytest.raises(InputFileError, match=r"^bar 9 is past the end of song.mid \(8 bars\)$"):
        BarRange(9, 9).check_inside(bars, "song.mid")
    with pytest.raises(InputFileError, match=r"^bars 7-9 run past the end of song.mid \(8 bars\)$"):
        BarRange(7, 9).check_inside(bars, "song.mid")
