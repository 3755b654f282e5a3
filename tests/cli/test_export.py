"""``clsm export``: notation of a MIDI file's melody to a file or stdout, errors with exit codes."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from clsm_cli.editing.prepare import open_song, prepare_song
from clsm_cli.music.bars import BarRange
from clsm_cli.music.notation import track_score
from tests.music.notation_checks import joined_notes, measure_lengths, parse

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "hoert-ihr-herrn.mid"


def test_export_writes_musicxml_of_the_melody(run_clsm, tmp_path):
    out = tmp_path / "song.musicxml"
    result = run_clsm("export", EXAMPLE, "--musicxml", out)
    assert result.exit_code == 0, result.output
    prepared = prepare_song(open_song(EXAMPLE, None), None, None)
    score = track_score(prepared.song, prepared.track, list(prepared.bars), EXAMPLE.stem)
    parsed = parse(out.read_text(), "musicxml")
    assert joined_notes(parsed) == Counter((n.start, n.pitch, n.end - n.start) for n in score.notes)
    assert parsed.parts[0].partName == "Melody"


def test_export_bars_to_stdout_as_abc(run_clsm):
    result = run_clsm("export", EXAMPLE, "--bars", "3-4", "--abc", "-")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("X:1\n") and "K:Eb" in result.stdout
    body = [line for line in result.stdout.splitlines() if line and line[1] != ":"]
    assert "".join(body).count("|") == 2  # two bars, the last closed by |]
    prepared = prepare_song(open_song(EXAMPLE, BarRange(3, 4)), BarRange(3, 4), None)
    start, end = BarRange(3, 4).tick_span(list(prepared.bars))
    in_bars = [n for n in prepared.track.notes if start <= n.start_tick < end]
    assert sum(joined_notes(parse(result.stdout, "abc")).values()) == len(in_bars)


@pytest.mark.parametrize("args, code", [
    ((), 2),  # neither format
    (("--abc", "-", "--musicxml", "-"), 2),  # both
    (("--bars", "40-41", "--abc", "-"), 3),  # past the end
])
def test_export_usage_and_input_errors(run_clsm, args, code):
    result = run_clsm("export", EXAMPLE, *args)
    assert result.exit_code == code and "Traceback" not in result.output


def test_export_refuses_an_existing_file_and_an_unwritable_folder(run_clsm, tmp_path):
    out = tmp_path / "song.abc"
    out.write_text("mine")
    result = run_clsm("export", EXAMPLE, "--abc", out)
    assert result.exit_code == 5 and "already exists" in result.stderr and out.read_text() == "mine"
    assert run_clsm("export", EXAMPLE, "--abc", out, "--force").exit_code == 0
    assert out.read_text().startswith("X:1")
    through_a_file = out / "song.musicxml"  # a folder that is a file: unwritable, also as root
    result = run_clsm("export", EXAMPLE, "--musicxml", through_a_file)
    assert result.exit_code == 5 and "Traceback" not in result.output


def test_export_and_notation_flags_run_where_torch_cannot_be_imported(run_without_torch, tmp_path):
    result = run_without_torch("-m", "clsm_cli", "export", EXAMPLE, "--abc", "-")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("X:1")
    result = run_without_torch("-m", "clsm_cli", "infill", EXAMPLE, "--bars", "3-4", "-n", "1", "--seed", "1",
                               "--musicxml", "--abc", "--out", tmp_path, "--no-preview")
    assert result.returncode == 0, result.stderr
    assert sorted(path.suffix for path in tmp_path.iterdir()) == [".abc", ".mid", ".musicxml"]
    # The shipped model's edit of a real tune: the MusicXML holds the output MIDI's melody on its grid.
    (midi,) = tmp_path.glob("*.mid")
    prepared = prepare_song(open_song(midi, None), None, None)
    score = track_score(prepared.song, prepared.track, list(prepared.bars), midi.stem)
    (musicxml,) = tmp_path.glob("*.musicxml")
    assert joined_notes(parse(musicxml.read_text(), "musicxml")) == Counter(
        (n.start, n.pitch, n.end - n.start) for n in score.notes)


def test_export_with_meter_counts_the_bars_of_a_mislabelled_song_in_it(run_clsm, tmp_path):
    pop = EXAMPLE.parents[1] / "tests" / "fixtures" / "dev_midi" / "pop909_404.mid"  # 4/4 music labelled 1/4
    out = tmp_path / "pop.musicxml"
    result = run_clsm("export", pop, "--meter", "4/4", "--bars", "5-12", "--musicxml", out)
    assert result.exit_code == 0, result.output
    lengths = measure_lengths(parse(out.read_text(), "musicxml"))
    assert [number for number, _, _ in lengths] == list(range(5, 13))
    assert all(length == bar == 4 for _, length, bar in lengths)


def test_export_of_a_tune_in_triplets_does_not_warn_about_the_sixteenth_grid(run_clsm):
    hornpipe = EXAMPLE.parents[1] / "tests" / "fixtures" / "dev_midi" / "cre_BaconandBeanshornpipe.mid"
    result = run_clsm("export", hornpipe, "--abc", "-")
    assert result.exit_code == 0 and "(3:2:2" in result.stdout
    assert "triplets" not in result.stderr
