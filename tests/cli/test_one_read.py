"""Each editing command reads each input file once: meter, bars, model choice and the edit all
work from that one read (``editing.prepare.open_song`` remembers the last file it read;
``clsm_cli.music.midi_read.read_file_bytes`` counts the reads)."""

from collections import Counter
from pathlib import Path

import pytest

from clsm_cli.editing import prepare
from clsm_cli.music import midi_read

HORNPIPE = Path(__file__).resolve().parent.parent / "fixtures" / "dev_midi" / "cre_BaconandBeanshornpipe.mid"


@pytest.fixture
def reads(monkeypatch):
    counted: Counter = Counter()
    real = midi_read.read_file_bytes

    def counting(path, *args, **kwargs):
        counted[Path(path).resolve()] += 1
        return real(path, *args, **kwargs)

    monkeypatch.setattr(midi_read, "read_file_bytes", counting)
    monkeypatch.setattr(prepare, "_last_read", {})  # nothing remembered from an earlier test's command
    monkeypatch.setattr(midi_read, "_recent_bytes", midi_read.OrderedDict())
    return counted


@pytest.mark.parametrize("verb_args", [
    ["infill", "--bars", "3-4", "-n", "2"],
    ["vary", "--bars", "3-4", "-n", "1", "--amount", "0.5"],
    ["interpolate", "--bars", "3", "--steps", "2"],
])
@pytest.mark.parametrize("forced", [True, False], ids=["--model", "chosen"])
def test_an_edit_reads_its_input_once(run_clsm, tiny_model_dir, tmp_path, reads, verb_args, forced):
    model = ["--model", str(tiny_model_dir)] if forced else []
    result = run_clsm(*verb_args, HORNPIPE, *model, "--out", tmp_path, "--no-preview")
    assert result.exit_code == 0, result.output
    assert reads[HORNPIPE.resolve()] == 1


def test_show_reads_its_input_once(run_clsm, reads):
    result = run_clsm("show", HORNPIPE, "--bars", "3-4")
    assert result.exit_code == 0, result.output
    assert reads[HORNPIPE.resolve()] == 1


def test_a_batch_reads_each_input_once(run_clsm, tiny_model_dir, tmp_path, reads):
    other = Path(__file__).resolve().parent.parent / "fixtures" / "dev_midi" / "cre_AshplantreelThe.mid"
    result = run_clsm("infill", HORNPIPE, other, "--bars", "2", "-n", "1", "--model", tiny_model_dir, "--out", tmp_path,
                      "--no-preview")
    assert result.exit_code == 0, result.output
    assert reads == Counter({HORNPIPE.resolve(): 1, other.resolve(): 1})


def test_an_interpolation_between_two_files_reads_each_once(run_clsm, tiny_model_dir, tmp_path, reads):
    """Planning the call reads the files' provenance; the model choice and the edit use the same
    bytes (``midi_read`` remembers the last files it read)."""
    first = run_clsm("infill", HORNPIPE, "--bars", "3", "-n", "2", "--model", tiny_model_dir, "--out", tmp_path,
                     "--no-preview", "--json")
    assert first.exit_code == 0, first.output
    import json

    start, end = (Path(output["path"]).resolve() for output in json.loads(first.stdout)["outputs"])
    reads.clear()
    result = run_clsm("interpolate", "--start", start, "--end", end, "--steps", "2", "--model", tiny_model_dir,
                      "--out", tmp_path / "series", "--no-preview")
    assert result.exit_code == 0, result.output
    assert reads == Counter({start: 1, end: 1})


def test_a_file_changed_since_it_was_read_is_read_again(tmp_path, reads):
    import os
    import shutil

    from clsm_cli.editing.prepare import open_song

    copy = shutil.copy(HORNPIPE, tmp_path / "tune.mid")
    first = open_song(copy, None)
    assert open_song(copy, None).song is first.song and reads[Path(copy).resolve()] == 1
    os.utime(copy, ns=(1, 1))  # same bytes, another modification time
    assert open_song(copy, None).song is not first.song and reads[Path(copy).resolve()] == 2
