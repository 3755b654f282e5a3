"""Names that never collide and errors said once, before the slow part (issue 14, items 5 and 6).

Two inputs of one batch with the same stem get outputs told apart by their folders; ``vary
--around`` names its outputs after the file it varies around; a missing or unreadable input is
refused before any model is loaded; one file that fails says so in one sentence, nothing more.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clsm_cli.editing.inputs import distinct_inputs, output_stems
from clsm_cli.engine import load
from synthetic_midi.midi_factory import scale_melody, write_song


@pytest.fixture
def edit(run_clsm, tiny_model_dir, tmp_path):
    """``clsm VERB ... --model tiny --out tmp/out --json``; returns (result, json objects)."""

    def run(verb, *args, model=None):
        result = run_clsm(verb, *args, "--model", str(model or tiny_model_dir), "--out", str(tmp_path / "out"),
                          "--json", "--no-preview")
        return result, [json.loads(line) for line in result.stdout.splitlines() if line.strip()]

    return run


# --- names -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("paths", "expected"),
    [
        (["a/song.mid", "b/song.mid", "c/other.mid"], ["a-song", "b-song", "other"]),
        (["x/a/song.mid", "y/a/song.mid"], ["x-a-song", "y-a-song"]),
        (["A/Song.mid", "b/song.mid"], ["A-Song", "b-song"]),  # one file on a case-blind disk
        (["a/song.mid", "b/song.mid", "a-song.mid"], ["a-song", "b-song", "a-song-2"]),
        (["song.mid"], ["song"]),
    ],
)
def test_inputs_with_the_same_stem_get_stems_told_apart_by_their_folders(paths, expected):
    assert output_stems([Path(path) for path in paths]) == expected


def test_a_file_given_twice_is_kept_once(tmp_path):
    song = tmp_path / "song.mid"
    kept, repeated = distinct_inputs([song, tmp_path / "other.mid", tmp_path / "." / "song.mid"])
    assert kept == [song, tmp_path / "other.mid"] and repeated == [tmp_path / "song.mid"]


def test_two_songs_of_the_same_name_in_one_batch_are_both_edited(edit, tmp_path):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
    first = write_song(tmp_path / "a" / "song.mid", scale_melody(8))
    second = write_song(tmp_path / "b" / "song.mid", scale_melody(8, first_pitch=62))
    result, records = edit("infill", first, second, "--bars", "3-4", "-n", "2", "--seed", "3")
    assert result.exit_code == 0, result.output
    assert [record["ok"] for record in records] == [True, True]
    names = sorted(path.name for path in (tmp_path / "out").iterdir())
    assert names == sorted(f"{folder}-song.infill-bars3-4-s3-{k}.mid" for folder in "ab" for k in (1, 2))
    summary = " ".join(result.stderr.split())
    assert "told apart by their folders" in summary and f"{first} as a-song.*" in summary
    assert "2 of 2 files edited" in summary


def test_vary_around_another_file_is_named_after_it(edit, tmp_path):
    song = write_song(tmp_path / "song.mid", scale_melody(8))
    plain, (record,) = edit("vary", song, "--bars", "3-4", "-n", "1", "--seed", "3")
    assert plain.exit_code == 0, plain.output
    around = record["outputs"][0]["path"]
    varied, (record,) = edit("vary", song, "--bars", "3-4", "-n", "1", "--seed", "3", "--around", around)
    assert varied.exit_code == 0, varied.output
    assert Path(record["outputs"][0]["path"]).name == "song.vary-bars3-4-around-vary-bars3-4-s3-1-s3-1.mid"
    assert len(list((tmp_path / "out").iterdir())) == 2


# --- errors --------------------------------------------------------------------------------------------------


def test_one_failing_file_says_its_error_once_and_nothing_more(edit, tmp_path):
    corrupt = tmp_path / "corrupt.mid"
    corrupt.write_bytes(b"MThd\x00\x00\x00\x06\x00\x01\x00\x02\x01\xe0MTrk\x00\x00\xff\xff")
    result, (record,) = edit("infill", corrupt, "--bars", "3-4", "--seed", "1")
    assert result.exit_code == 3 and record["exit_code"] == 3
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 2 and lines[0].startswith("model ")  # the model line, then the error
    assert lines[1].startswith("error: ") and "corrupt.mid" in lines[1]
    assert "edited" not in result.stderr and "--seed 1" not in result.stderr


@pytest.mark.parametrize("problem", ["missing", "folder"])
def test_an_input_that_cannot_be_read_is_refused_before_the_model_loads(edit, tmp_path, monkeypatch, problem):
    song = write_song(tmp_path / "song.mid", scale_melody(8))
    bad = tmp_path / "typo.mid"
    if problem == "folder":
        bad.mkdir()

    def no_loading(*args, **kwargs):
        raise AssertionError("the model was loaded for an input that cannot be read")

    monkeypatch.setattr(load, "load_engine", no_loading)
    result, records = edit("infill", song, bad, "--bars", "3-4", "--seed", "1")
    assert result.exit_code == 3 and records == []
    words = "does not exist" if problem == "missing" else "is a folder"
    assert result.stderr.count("error:") == 1 and f"{bad} {words}" in " ".join(result.stderr.split())
    assert not (tmp_path / "out").exists()


def test_a_missing_input_is_said_before_a_missing_model(edit, tmp_path):
    result, _ = edit("vary", tmp_path / "nowhere.mid", "--bars", "1-2", model=tmp_path / "no-such-model")
    assert result.exit_code == 3 and "nowhere.mid does not exist" in result.stderr
    song = write_song(tmp_path / "song.mid", scale_melody(8))
    result, _ = edit("vary", song, "--bars", "1-2", "--around", tmp_path / "gone.mid", model=tmp_path / "no-such-model")
    assert result.exit_code == 3 and "gone.mid does not exist" in result.stderr
