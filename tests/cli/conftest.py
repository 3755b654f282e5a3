"""Fixtures the command-line tests share: a small song and the editing commands run with the tiny model."""

from __future__ import annotations

import json

import pytest

from synthetic_midi.midi_factory import scale_melody, write_song


@pytest.fixture
def song(tmp_path):
    return write_song(tmp_path / "song.mid", scale_melody(10))


@pytest.fixture
def clsm(run_clsm, tiny_model_dir, tmp_path):
    """``clsm VERB ARGS --model tiny --out tmp/out --no-preview``: (result, JSON objects on stdout);
    ``out=None`` leaves ``--out`` out (the command's default folder)."""

    def run(verb, *args, out="out"):
        extra = ["--out", str(tmp_path / out)] if out is not None else []
        result = run_clsm(verb, *args, "--model", str(tiny_model_dir), *extra, "--no-preview")
        objects = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
        return result, objects

    return run
