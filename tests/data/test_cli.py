"""``clsm data build`` through the real Typer app."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from clsm_cli.cli.app import app
from clsm_cli.data import music21_corpus
from clsm_cli.data.shards import read_manifest
from tests.data.meter_corpus import write_tune
from tests.data.synthetic_corpus import write_corpus

ENV = {"COLUMNS": "120", "NO_COLOR": "1", "FORCE_COLOR": None}


def run(*args):
    return CliRunner(env=ENV).invoke(app, [str(arg) for arg in args])


@pytest.fixture
def corpus_dir(tmp_path):
    write_corpus(tmp_path / "midi")
    return tmp_path / "midi"


def test_build_prints_parameters_table_and_summary(corpus_dir, tmp_path):
    out = tmp_path / "data"
    result = run("data", "build", corpus_dir, "--out", out, "--workers", "1")
    assert result.exit_code == 0, result.output
    assert "workers" in result.stderr and "-6..+5" in result.stderr  # parameters first, on stderr
    assert "train-1 *" in result.stdout and "total" in result.stdout
    assert "processed 12 files (skipped 25.0%)" in result.stdout
    assert "skipped 1 for unreadable, e.g. broken/corrupt.mid" in result.stderr
    manifest = read_manifest(out)
    assert manifest["files"]["kept"] == 9 and list(manifest["meter_groups"]) == ["3/4", "4/4"]
    # One table per meter group; the 3/4 group (waltz.mid, changes.mid) is a small folder.
    assert "4/4 (128 steps a window; songs: 1 in 2/2, 5 in 4/4)" in result.stdout
    assert "3/4 (96 steps a window; songs: 2 in 3/4)" in result.stdout
    assert "3/4: moved" in result.stderr
    assert "3/4: train-1 and valid-1 hold a song each" in result.stderr
    assert "dropped 4 windows that cross a meter change" in result.stderr


def test_meters_option_filters_and_is_checked(corpus_dir, tmp_path):
    result = run("data", "build", corpus_dir, "--out", tmp_path / "data", "--workers", "1", "--meters", "2/2")
    assert result.exit_code == 0, result.output
    assert "4/4 (4/4 and 2/2 are one group)" in result.stderr
    assert list(read_manifest(tmp_path / "data")["meter_groups"]) == ["4/4"]
    bad = run("data", "build", corpus_dir, "--out", tmp_path / "bad", "--meters", "3/x")
    assert bad.exit_code == 2 and "a meter is written like 3/4" in bad.stderr
    assert not (tmp_path / "bad").exists()


def test_existing_output_needs_force(corpus_dir, tmp_path):
    out = tmp_path / "data"
    assert run("data", "build", corpus_dir, "--out", out, "--workers", "1").exit_code == 0
    again = run("data", "build", corpus_dir, "--out", out, "--workers", "1")
    assert again.exit_code == 5 and "--force" in again.stderr
    assert run("data", "build", corpus_dir, "--out", out, "--workers", "1", "--force").exit_code == 0


def test_an_output_path_through_a_file_exits_5_with_a_sentence(corpus_dir, tmp_path):
    (tmp_path / "a-file").write_text("not a folder")
    result = run("data", "build", corpus_dir, "--out", tmp_path / "a-file" / "data", "--workers", "1")
    assert result.exit_code == 5, result.output
    assert "cannot create the dataset folder" in result.stderr and "internal error" not in result.stderr


def test_a_write_failure_during_the_build_exits_5_and_leaves_nothing(corpus_dir, tmp_path, monkeypatch):
    from clsm_cli.data import shards

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(shards, "write_json", disk_full)
    out = tmp_path / "data"
    result = run("data", "build", corpus_dir, "--out", out, "--workers", "1")
    assert result.exit_code == 5, result.output
    assert "No space left on device" in result.stderr
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".data.")]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--corpus", "lakh"], "--corpus must be one of music21, cre, pop909"),
        (["--workers", "0"], "--workers must be at least 1"),
        (["--identity", "album"], "album"),
    ],
)
def test_usage_errors_exit_2(corpus_dir, tmp_path, args, message):
    result = run("data", "build", corpus_dir, "--out", tmp_path / "data", *args)
    assert result.exit_code == 2 and message in result.output
    assert not (tmp_path / "data").exists()


def test_nothing_to_read_is_a_usage_error(tmp_path):
    result = run("data", "build", "--out", tmp_path / "data")
    assert result.exit_code == 2 and "--corpus (music21, cre DIR, pop909 DIR)" in result.stderr


def test_music21_corpus_option(monkeypatch, tmp_path):
    monkeypatch.setattr(music21_corpus, "FOLK_COLLECTIONS", ("nottingham-dataset",))
    result = run("data", "build", "--corpus", "music21", "--out", tmp_path / "folk", "--workers", "1")
    assert result.exit_code == 0, result.output
    assert "nottingham-dataset" in result.stderr and "processed 2 files" in result.stdout


def test_a_folder_without_any_window_says_so(tmp_path):
    write_tune(tmp_path / "midi" / "short.mid", [((3, 4), 6)], seed=1)
    result = run("data", "build", tmp_path / "midi", "--out", tmp_path / "data", "--workers", "1")
    assert result.exit_code == 0, result.output
    assert "no song gave a window" in result.stderr and "processed 1 files (skipped 100.0%)" in result.stdout
    assert read_manifest(tmp_path / "data")["meter_groups"] == {}
