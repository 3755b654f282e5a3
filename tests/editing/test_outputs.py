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
        written.add(tmp_path / "a", b"a")
        written.add_written(tmp_path / "b", lambda temporary: temporary.write_text("b"))
        assert sorted(path.name for path in tmp_path.iterdir() if not path.name.startswith(".")) == []
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a", "b"] and len(written.written) == 2
    assert (tmp_path / "b").read_text() == "b"


def test_an_output_set_that_fails_before_commit_leaves_only_what_was_there(tmp_path):
    (tmp_path / "a").write_text("earlier run")
    with pytest.raises(OutputError):
        with OutputSet(force=True) as written:
            written.add(tmp_path / "a", b"new")
            raise OutputError("disk full")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a"] and (tmp_path / "a").read_text() == "earlier run"


def test_a_plain_commit_never_replaces_and_undoes_only_its_own_files(tmp_path):
    """A file that appears between the check and the commit stops a plain run, which then removes what it
    placed, but not a file another run has replaced since."""
    written = OutputSet(force=False)
    written.add(tmp_path / "a", b"mine")
    written.add(tmp_path / "b", b"mine")
    (tmp_path / "b").write_text("theirs")  # another run got there first
    with pytest.raises(OutputError, match="appeared while this run was writing"):
        written.commit()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["b"] and (tmp_path / "b").read_text() == "theirs"


def test_a_forced_commit_that_fails_halfway_puts_back_what_it_replaced(tmp_path, monkeypatch):
    for name in ("a", "b"):
        (tmp_path / name).write_text(f"old {name}")
    written = OutputSet(force=True)
    written.add(tmp_path / "a", b"new a")
    written.add(tmp_path / "b", b"new b")
    real_replace = os.replace

    def fail_on_b(source, target):
        if os.path.basename(target) == "b":
            raise OSError(28, "No space left on device")
        return real_replace(source, target)

    monkeypatch.setattr(os, "replace", fail_on_b)
    with pytest.raises(OutputError, match="No space left"):
        written.commit()
    monkeypatch.undo()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a", "b"]
    assert [(tmp_path / name).read_text() for name in ("a", "b")] == ["old a", "old b"]
