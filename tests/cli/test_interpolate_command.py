"""``clsm interpolate`` after an infill, between earlier outputs, and ``clsm vary --amount 0``, end to
end with a tiny random CLSM: the ends are the chosen bars note for note, nothing else moves, and a
wrong pair of files is one sentence with its exit code."""

from __future__ import annotations

import os

import mido
import pytest

from clsm_cli.music.bars import BarRange, song_bars
from clsm_cli.music.midi_read import read_midi
from synthetic_midi.midi_factory import scale_melody, write_song

BARS = BarRange(3, 4)


def notes_by_place(path, bars=BARS):
    """(notes starting in the bars, notes outside them) of every track, as (track, start, end, pitch)."""
    song = read_midi(path)
    start, end = bars.tick_span(song_bars(song))
    inside, outside = [], []
    for track in song.tracks:
        for note in track.notes:
            if start <= note.start_tick < end:
                inside.append((track.number, note.start_tick, note.end_tick, note.pitch))
            else:
                outside.append((track.number, note.start_tick, min(note.end_tick, start) if note.start_tick < start
                                else note.end_tick, note.pitch))
    return sorted(inside), sorted(outside)


def infill_run(clsm, song, seed, n=2, out="out", bars="3-4"):
    result, (record,) = clsm("infill", song, "--bars", bars, "-n", str(n), "--seed", str(seed), "--json", out=out)
    assert result.exit_code == 0, result.output
    return [output["path"] for output in record["outputs"]]


def test_interpolate_with_no_file_morphs_the_latest_infills_one_to_two(clsm, song):
    first, second = infill_run(clsm, song, seed=1)
    result, (record,) = clsm("interpolate", "--steps", "8", "--json")
    assert result.exit_code == 0, result.output
    assert first in result.stderr.replace("\n", "") and second in result.stderr.replace("\n", "")
    paths = [output["path"] for output in record["outputs"]]
    assert len(paths) == 9 and record["bars"] == [3, 4]
    assert notes_by_place(paths[0])[0] == notes_by_place(first)[0]
    assert notes_by_place(paths[-1])[0] == notes_by_place(second)[0]
    for path in paths:
        assert notes_by_place(path)[1] == notes_by_place(song)[1]
    assert record["warnings"] == []
    # The series' distances (pitch edit distance), one per neighbour pair and per step.
    assert len(record["neighbour_distances"]) == 8
    assert record["distance_to_start"][0] == 0 and record["distance_to_end"][-1] == 0
    assert record["distance_to_start"][-1] == record["distance_to_end"][0]


def test_interpolate_continues_from_the_current_folder(clsm, song, tmp_path, monkeypatch):
    folder = tmp_path / "here"
    folder.mkdir()
    monkeypatch.chdir(folder)
    first, _ = infill_run(clsm, song, seed=2, out=None)
    result, (record,) = clsm("interpolate", "--steps", "2", "--json", out=None)
    assert result.exit_code == 0, result.output
    assert notes_by_place(record["outputs"][0]["path"])[0] == notes_by_place(folder / first)[0]


def test_candidates_are_chosen_by_number_from_the_newest_run(clsm, song, tmp_path):
    old = infill_run(clsm, song, seed=5, n=3)
    new = infill_run(clsm, song, seed=6, n=3)
    for path in old:  # the seed-5 run is older, whatever the file system's clock resolution
        os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    result, (record,) = clsm("interpolate", "--start", "3", "--end", "1", "--steps", "2", "--json")
    assert result.exit_code == 0, result.output
    assert notes_by_place(record["outputs"][0]["path"])[0] == notes_by_place(new[2])[0]
    assert notes_by_place(record["outputs"][-1]["path"])[0] == notes_by_place(new[0])[0]
    missing, _ = clsm("interpolate", "--start", "7")
    assert missing.exit_code == 2 and "no candidate 7" in missing.stderr and "Traceback" not in missing.output


def test_no_earlier_outputs_is_one_sentence_and_exit_2(clsm, tmp_path):
    result, _ = clsm("interpolate", "--steps", "8")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "no clsm infill or vary output" in result.stderr


def test_two_outputs_need_no_original(clsm, song, tmp_path):
    first, second = infill_run(clsm, song, seed=3)
    song.unlink()
    result, (record,) = clsm("interpolate", "--start", first, "--end", second, "--steps", "4", "--json", out="morph")
    assert result.exit_code == 0, result.output
    assert notes_by_place(record["outputs"][0]["path"]) == notes_by_place(first)
    assert notes_by_place(record["outputs"][-1]["path"])[0] == notes_by_place(second)[0]


def test_outputs_that_are_not_two_versions_of_one_song_are_exit_3(clsm, song, tmp_path):
    (first,) = infill_run(clsm, song, seed=3, n=1)
    (other_bars,) = infill_run(clsm, song, seed=3, n=1, out="other-bars", bars="5-6")
    other_song = write_song(tmp_path / "other.mid", scale_melody(10, first_pitch=64))
    (other_tune,) = infill_run(clsm, other_song, seed=3, n=1, out="other-tune")
    plain = write_song(tmp_path / "plain.mid", scale_melody(10))
    for end, words in ((other_bars, "changed bars 3-4 but"), (other_tune, "other notes"), (plain, "not written by clsm")):
        result, _ = clsm("interpolate", "--start", first, "--end", end, out="morph")
        assert result.exit_code == 3, result.output
        assert words in result.stderr.replace("\n", " ") and "Traceback" not in result.output


def test_an_output_edited_by_hand_is_encoded_from_its_notes_with_a_warning(clsm, song, tmp_path):
    first, second = infill_run(clsm, song, seed=4)
    edited = tmp_path / "edited.mid"
    raise_first_target_note(first, edited)
    result, (record,) = clsm("interpolate", "--start", edited, "--end", second, "--steps", "2", "--json", out="morph")
    assert result.exit_code == 0, result.output
    assert any("edited after clsm wrote it" in warning for warning in record["warnings"])
    assert notes_by_place(record["outputs"][0]["path"])[0] == notes_by_place(edited)[0]
    untouched, (plain,) = clsm("interpolate", "--start", first, "--end", second, "--steps", "2", "--json", out="plain")
    assert plain["warnings"] == []


def raise_first_target_note(path, destination):
    """Copy an output with its first melody note inside bars 3-4 a semitone higher (a hand edit)."""
    start, end = BARS.tick_span(song_bars(read_midi(path)))
    midi = mido.MidiFile(path)
    for chunk in midi.tracks:
        tick, raised = 0, None
        for index, message in enumerate(chunk):
            tick += message.time
            if raised is None and message.type == "note_on" and message.velocity > 0 and start <= tick < end:
                raised = message.note
                chunk[index] = message.copy(note=message.note + 1)
            elif raised is not None and message.type in ("note_on", "note_off") and message.note == raised:
                chunk[index] = message.copy(note=raised + 1)
                break
        if raised is not None:
            break
    midi.save(destination)


def test_vary_amount_zero_writes_the_original_bars(clsm, song):
    result, (record,) = clsm("vary", song, "--bars", "3-4", "--amount", "0", "-n", "2", "--seed", "1", "--json")
    assert result.exit_code == 0, result.output
    for output in record["outputs"]:
        assert notes_by_place(output["path"]) == notes_by_place(song)


@pytest.mark.parametrize("verb", ["infill", "interpolate", "vary"])
def test_help_examples_do_not_advertise_argmax(run_clsm, verb):
    text = run_clsm(verb, "--help").stdout
    assert "--temperature 0 " not in text.split("Examples")[-1]
    if verb == "interpolate":
        assert "clsm interpolate --steps 8" in text


def test_from_original_starts_on_the_original_bars(clsm, song):
    result, (record,) = clsm("interpolate", song, "--bars", "3-4", "--from-original", "--steps", "2", "--seed", "4",
                             "--json")
    assert result.exit_code == 0, result.output
    assert notes_by_place(record["outputs"][0]["path"]) == notes_by_place(song)
    _, (infills,) = clsm("infill", song, "--bars", "3-4", "-n", "2", "--seed", "4", "--json", out="infills")
    assert notes_by_place(record["outputs"][-1]["path"])[0] == notes_by_place(infills["outputs"][1]["path"])[0]
