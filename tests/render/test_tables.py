"""The text of the show tables: program names, tempi, meters, and the tables themselves."""

import io
from pathlib import Path
from types import SimpleNamespace

import pytest
from rich.console import Console

from clsm_cli.music.melody import TrackSummary
from clsm_cli.render.tables import (
    CHOSEN_MARKER,
    GM_PROGRAM_NAMES,
    meter_description,
    meter_runs,
    percent_text,
    pitch_range_text,
    program_name,
    song_summary_rows,
    tempo_description,
    tracks_table,
)


def bar(number, numerator=4, denominator=4):
    return SimpleNamespace(number=number, numerator=numerator, denominator=denominator)


def plain(renderable, width=100):
    console = Console(file=io.StringIO(), width=width)
    console.print(renderable)
    return console.file.getvalue()


@pytest.mark.parametrize(
    "program, is_drum, name",
    [(0, False, "Acoustic Grand Piano"), (73, False, "Flute"), (33, False, "Electric Bass (finger)"),
     (127, False, "Gunshot"), (None, False, "Acoustic Grand Piano (default)"), (0, True, "Drum kit")],
)
def test_program_names_follow_general_midi(program, is_drum, name):
    assert program_name(program, is_drum) == name


def test_program_name_rejects_numbers_outside_midi():
    assert len(GM_PROGRAM_NAMES) == 128
    with pytest.raises(ValueError, match="0..127"):
        program_name(128)


def test_pitch_ranges_and_percentages_read_like_a_musician_writes_them():
    assert pitch_range_text(60, 79) == "C4–G5"
    assert pitch_range_text(61, 61) == "C#4"
    assert pitch_range_text(None, None) == "—"
    assert [percent_text(share) for share in (0.0, 0.001, 0.25, 1.0)] == ["0%", "<1%", "25%", "100%"]


@pytest.mark.parametrize(
    "tempos, text",
    [([(0, 500_000)], "120 BPM"), ([(0, 600_000)], "100 BPM"), ([(0, 500_001)], "120 BPM"),
     ([(0, 530_000)], "113.2 BPM"), ([(0, 500_000), (960, 625_000), (1920, 500_000)], "96–120 BPM (2 changes)"),
     ([], "120 BPM (no tempo set; the MIDI default)")],
)
def test_tempo_in_quarter_notes_per_minute(tempos, text):
    assert tempo_description(tempos) == text


def test_meter_changes_are_listed_with_their_bars():
    bars = [bar(1), bar(2), bar(3, 3, 4), bar(4, 3, 4), bar(5)]
    assert meter_runs(bars) == [((4, 4), 1, 2), ((3, 4), 3, 4), ((4, 4), 5, 5)]
    assert meter_description(bars) == "4/4 (bars 1-2), 3/4 (bars 3-4), 4/4 (bar 5)"
    assert meter_description([bar(1), bar(2)]) == "4/4"


def test_a_missing_time_signature_is_said_in_the_summary():
    song = SimpleNamespace(path=Path("/music/tune.mid"), had_time_signature=False, tempos=[(0, 500_000)],
                           ticks_per_beat=480, midi_type=0)
    rows = dict(song_summary_rows(song, [bar(1), bar(2)]))
    assert rows["file"] == "tune.mid"
    assert rows["meter"] == "4/4 (no time signature in the file: assuming 4/4)"
    assert rows["bars"] == "2"
    assert rows["tempo"] == "120 BPM"
    song.had_tempo = False
    assert dict(song_summary_rows(song, [bar(1)]))["tempo"] == "120 BPM (no tempo set; the MIDI default)"
    assert rows["resolution"] == "480 ticks per quarter note"


def test_tracks_table_marks_the_melody_and_numbers_channels_from_one():
    summaries = [
        TrackSummary(number=1, name="Lead", label="Lead", chunk=1, channel=0, program=73, notes=64,
                     polyphony=0.0, lowest_pitch=62, highest_pitch=79, is_drum=False, is_bass=False,
                     notes_in_range=None),
        TrackSummary(number=2, name="", label="Drums", chunk=2, channel=9, program=0, notes=128,
                     polyphony=0.5, lowest_pitch=36, highest_pitch=46, is_drum=True, is_bass=False,
                     notes_in_range=None),
        TrackSummary(number=3, name="", label="channel 3", chunk=2, channel=2, program=33, notes=20,
                     polyphony=0.0, lowest_pitch=28, highest_pitch=40, is_drum=False, is_bass=True,
                     notes_in_range=None),
    ]
    lines = plain(tracks_table(summaries, chosen_number=1)).splitlines()
    lead = next(line for line in lines if "Lead" in line)
    drums = next(line for line in lines if "Drum kit" in line)
    bass = next(line for line in lines if "channel 3" in line)
    assert "Flute" in lead and "D4–G5" in lead and CHOSEN_MARKER in lead
    assert CHOSEN_MARKER not in drums
    assert " 10 " in drums and "50%" in drums and "drums" in drums
    assert "Electric Bass (finger)" in bass and "bass" in bass.split("(finger)")[1]
    assert "program" in lines[0] and "notes" in lines[0]
