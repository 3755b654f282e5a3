"""Several sources in one ``clsm data build``: folders and corpora together, duplicates dropped,
``--test-songs`` (issue 23 item 4)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from clsm_cli.cli.app import app
from clsm_cli.cli.data import pair_corpus_folders
from clsm_cli.data.corpus import read_test_songs

DEV = Path(__file__).resolve().parents[1] / "fixtures" / "dev_midi"
ENV = {"COLUMNS": "120", "NO_COLOR": "1", "FORCE_COLOR": None}
TUNES = ("BaconandBeanshornpipe", "AshplantreelThe", "AsIWentOutUpontheIcepolka", "BackGardenpolkaThe")


def run(*args):
    return CliRunner(env=ENV).invoke(app, [str(arg) for arg in args])


def cre_checkout(root: Path) -> Path:
    """A cre_corpus/MIDI folder holding four dev tunes under their CRÉ names."""
    midi = root / "cre_corpus" / "MIDI"
    midi.mkdir(parents=True)
    for tune in TUNES:
        shutil.copy(DEV / f"cre_{tune}.mid", midi / f"{tune}.mid")
    return root


def test_folder_and_corpus_in_one_build_drop_the_copy_and_force_test_songs(tmp_path):
    checkout = cre_checkout(tmp_path / "cre")
    mine = tmp_path / "mine"
    mine.mkdir()
    shutil.copy(DEV / "cre_BaconandBeanshornpipe.mid", mine / "bacon.mid")  # the same tune again
    shutil.copy(DEV / "cre_AlexandersMarch.mid", mine / "march.mid")
    songs = tmp_path / "test.txt"
    songs.write_text("# held out\nAshplantreelThe\nNoSuchTune  # a typo\n")
    out = tmp_path / "out"
    result = run("data", "build", mine, "--corpus", "cre", checkout, "--test-songs", songs, "--out", out, "-j", "1")
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["files"]["total"] == 6
    assert manifest["duplicates_dropped"] == {"midi <- cre": 1}
    assert manifest["files"]["skipped_by_reason"]["duplicate"]["examples"][0]["source"] == "bacon.mid"
    assert [s["kind"] for s in manifest["sources"]["sources"]] == ["cre", "midi"]
    assert manifest["test_songs"]["not_found"] == ["NoSuchTune"]
    sources = json.loads((out / "4-4" / "sources.json").read_text())
    assert {s["song"]: s["split"] for s in sources}["AshplantreelThe"] == "test"
    assert "dropped 1 duplicates (midi <- cre)" in result.stderr
    assert "NoSuchTune" in result.stderr


def test_corpus_folders_pair_with_their_corpus(tmp_path):
    checkout = cre_checkout(tmp_path / "cre")
    pop = tmp_path / "pop" / "POP909" / "001"
    pop.mkdir(parents=True)
    (pop / "001.mid").write_bytes(b"")
    plain = tmp_path / "plain"
    plain.mkdir()
    pairs, left = pair_corpus_folders(["music21", "pop909", "cre"], [plain, checkout, tmp_path / "pop"])
    assert pairs == [("music21", None), ("pop909", tmp_path / "pop"), ("cre", checkout)]
    assert left == [plain]
    assert pair_corpus_folders([f"cre={plain}"], [])[0] == [("cre", plain)]


def test_bad_corpus_arguments_are_usage_errors(tmp_path):
    assert run("data", "build", "--corpus", "lakh", "--out", tmp_path / "o").exit_code == 2
    assert run("data", "build", "--corpus", "pop909", "--out", tmp_path / "o").exit_code == 2
    result = run("data", "build", "--corpus", "pop909", tmp_path, "--out", tmp_path / "o")
    assert result.exit_code == 2 and "POP909" in result.output
    assert run("data", "build", "--corpus", "music21", "--test-songs", tmp_path / "missing.txt",
               "--out", tmp_path / "o").exit_code == 2


def test_test_song_lists_in_the_repository_name_the_issues_songs():
    root = Path(__file__).resolve().parents[2] / "data" / "test_songs"
    cre_names = read_test_songs([root / "cre.txt"])
    assert {"AllRoundtheRoomreel", "BakersReelThe"} <= cre_names
    assert {path.stem.removeprefix("cre_") for path in DEV.glob("cre_*.mid")} <= cre_names
    pop_names = read_test_songs([root / "pop909.txt"])
    assert pop_names == {"243", "267", "048", "500", "010", "101", "202", "303", "404", "606", "707", "808"}
