"""``--combined`` as an audition file and ``--wav`` in-process, through the commands (tiny model)."""

from __future__ import annotations

import json
import wave

import pytest

import clsm_cli.music.audio as audio
from clsm_cli.music.midi_read import read_text_events
from synthetic_midi.tiny_soundfont import write_tiny_soundfont
from tests.music.audition_checks import audition_structure


@pytest.fixture
def edit_cli(run_clsm, tiny_model_dir, tmp_path):
    def run(verb, *args, env=None):
        result = run_clsm(verb, *args, "--model", str(tiny_model_dir), "--out", str(tmp_path / "out"), "--json",
                          env=env)
        return result, [json.loads(line) for line in result.stdout.splitlines() if line.strip()]

    return run


@pytest.fixture
def no_system_soundfont(monkeypatch):
    monkeypatch.setattr(audio, "system_soundfont_paths", lambda platform=None: [])


def test_infill_combined_is_an_audition_file(edit_cli, song):
    result, (record,) = edit_cli("infill", song, "--bars", "3-4", "-n", "3", "--seed", "1", "--combined")
    assert result.exit_code == 0, result.output
    found = audition_structure(record["combined"])
    assert [text for _, text in found["markers"]] == ["original", "candidate 1", "candidate 2", "candidate 3"]
    assert len(set(found["channels"])) == 4
    assert set(found["others"]) == {"Bass", "Drums"}
    assert all(all(count > 0 for count in counts) for counts in found["others"].values())  # under every pass
    assert any(text.startswith("clsm-provenance ") for text in read_text_events(record["combined"]))


def test_interpolate_combined_has_the_same_layout(edit_cli, song):
    result, (record,) = edit_cli("interpolate", song, "--bars", "3-4", "--steps", "3", "--seed", "2", "--combined")
    assert result.exit_code == 0, result.output
    found = audition_structure(record["combined"])
    assert [text for _, text in found["markers"]] == [f"step {k}" for k in range(1, 5)]
    assert all(all(count > 0 for count in counts) for counts in found["others"].values())


def test_wav_uses_the_soundfont_given_and_names_it(edit_cli, song, tmp_path, no_system_soundfont):
    soundfont = write_tiny_soundfont(tmp_path / "tiny.sf2")
    result, (record,) = edit_cli("infill", song, "--bars", "3-4", "-n", "1", "--seed", "1", "--wav",
                                 "--soundfont", soundfont, env={"CLSM_SOUNDFONT": None})
    assert result.exit_code == 0, result.output
    (output,) = record["outputs"]
    assert output["wav_renderer"] == "SoundFont tiny.sf2"
    with wave.open(output["wav"]) as stream:
        assert stream.getnframes() > stream.getframerate()  # ten bars at 120 bpm: far more than a second
    assert "no SoundFont" not in result.stderr


def test_wav_without_a_soundfont_says_how_to_get_one_once_and_falls_back(edit_cli, song, no_system_soundfont):
    result, (record,) = edit_cli("infill", song, "--bars", "3-4", "-n", "2", "--seed", "1", "--wav",
                                 env={"CLSM_SOUNDFONT": None})
    assert result.exit_code == 0, result.output
    assert [output["wav_renderer"] for output in record["outputs"]] == ["built-in synth"] * 2
    assert result.stderr.count("no SoundFont found") == 1


def test_wav_with_a_broken_soundfont_says_so_and_falls_back(edit_cli, song, tmp_path, no_system_soundfont):
    broken = tmp_path / "broken.sf2"
    broken.write_bytes(b"RIFF\x04\x00\x00\x00sfbk")
    result, (record,) = edit_cli("infill", song, "--bars", "3-4", "-n", "1", "--seed", "1", "--wav",
                                 "--soundfont", broken)
    assert result.exit_code == 0, result.output
    assert record["outputs"][0]["wav_renderer"] == "built-in synth"
    assert "broken.sf2" in result.stderr and "built-in synth" in result.stderr
