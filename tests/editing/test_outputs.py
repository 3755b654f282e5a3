"""editing/outputs.py and the verbs' output sets: every target checked before any is written, and a
call writes all of its outputs or none."""

from __future__ import annotations

import os

import pytest

from clsm_cli.editing.options import EditOptions, command_decoding
from clsm_cli.editing.outputs import OutputSet, check_targets
from clsm_cli.editing.verbs import edit_file
from clsm_cli.errors import OutputError
from clsm_cli.music import midi_write
from clsm_cli.music.bars import BarRange
from synthetic_midi.midi_factory import scale_melody, write_song


def infill(path, out_dir, loaded, force=False, num=3):
    options = EditOptions(verb="infill", bars=BarRange(3, 4), seed=1, out_dir=out_dir, num=num, temperature=0.0,
                          force=force)
    return edit_file(path, options, loaded, command_decoding(loaded.config, 0.0, None))


def test_a_hard_link_to_the_input_among_the_targets_is_refused_before_anything_is_written(tmp_path, tiny_model):
    song = write_song(tmp_path / "song.mid", scale_melody(10))
    out = tmp_path / "out"
    out.mkdir()
    os.link(song, out / "song.infill-bars3-4-s1-2.mid")  # named like output 2, the input's own bytes
    result = infill(song, out, tiny_model, force=True)
    assert result.exit_code == 5 and "input file itself" in result.error.message
    assert sorted(path.name for path in out.iterdir()) == ["song.infill-bars3-4-s1-2.mid"]  # output 1 never written


def test_two_targets_that_are_one_file_are_refused(tmp_path):
    first, second = tmp_path / "a.mid", tmp_path / "b.mid"
    first.write_bytes(b"old")
    os.symlink(first, second)
    with pytest.raises(OutputError, match="are one file"):
        check_targets([first, second], tmp_path / "input.mid", force=True)
    with pytest.raises(OutputError, match="already exists"):
        check_targets([first], tmp_path / "input.mid", force=False)
    check_targets([tmp_path / "c.mid", tmp_path / "d.mid"], tmp_path / "input.mid", force=False)  # free: no error


def test_a_failed_write_removes_what_the_call_wrote_of_its_set(tmp_path, tiny_model, monkeypatch):
    song = write_song(tmp_path / "song.mid", scale_melody(10))
    real_write = midi_write.write_edited_song
    calls = []

    def full_disk_on_the_third(*args, **kwargs):
        calls.append(args)
        if len(calls) == 3:
            raise OutputError("cannot write to the folder out (No space left on device)")
        return real_write(*args, **kwargs)

    monkeypatch.setattr(midi_write, "write_edited_song", full_disk_on_the_third)
    result = infill(song, tmp_path / "out", tiny_model)
    assert result.exit_code == 5 and "No space left" in result.error.message
    assert len(calls) == 3 and list((tmp_path / "out").iterdir()) == []


def test_an_output_set_keeps_its_files_when_nothing_fails(tmp_path):
    with OutputSet() as written:
        for name in ("a", "b"):
            written.write(tmp_path / name, lambda name=name: (tmp_path / name).write_text(name))
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a", "b"] and len(written.written) == 2
