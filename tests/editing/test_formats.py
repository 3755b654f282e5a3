"""``--musicxml`` and ``--abc`` on the editing commands: files beside each MIDI output, their JSON
keys, the edited bars marked, the notation equal to the MIDI output on its grid, all or none."""

from __future__ import annotations

import json
from collections import Counter
from fractions import Fraction

import pytest

from clsm_cli.editing import formats
from clsm_cli.errors import OutputError
from clsm_cli.music.bars import BarRange
from clsm_cli.music.midi_read import read_midi
from synthetic_midi.midi_factory import melody_of, scale_melody, write_song
from tests.music.notation_checks import joined_notes, parse, tie_pairs_ok


@pytest.fixture
def song(tmp_path):
    return write_song(tmp_path / "song.mid", scale_melody(10))


def edit(run_clsm, tiny_model_dir, tmp_path, verb, song, *args):
    result = run_clsm(verb, song, "--bars", "3-4", "--seed", "2", "--model", tiny_model_dir, "--out",
                      tmp_path / "out", "--json", "--no-preview", *args)
    records = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    return result, records


def test_infill_writes_notation_beside_each_output_with_keys_of_its_own(run_clsm, tiny_model_dir, tmp_path, song):
    result, (record,) = edit(run_clsm, tiny_model_dir, tmp_path, "infill", song, "-n", "2", "--musicxml", "--abc")
    assert result.exit_code == 0, result.output
    for output in record["outputs"]:
        midi = output["path"]
        assert output["musicxml"] == midi[:-4] + ".musicxml" and output["abc"] == midi[:-4] + ".abc"
        assert output["wav"] is None
        track = melody_of(read_midi(midi))
        score = formats.edited_track_score(midi, track.chunk, track.channel, None, BarRange(3, 4))
        text = open(output["musicxml"]).read()
        assert joined_notes(parse(text, "musicxml")) == Counter((n.start, n.pitch, n.end - n.start)
                                                                for n in score.notes)
        assert tie_pairs_ok(text)
        measures = parse(text, "musicxml").parts[0].getElementsByClass("Measure")
        marked = [m.number for m in measures if any(e.content == "new" for e in m.getElementsByClass("TextExpression"))]
        assert marked == [3]
        coloured = {m.number for m in measures for n in m.recurse().notes if n.style.color}
        assert coloured <= {3, 4} and coloured
        abc_bars = open(output["abc"]).read().split("K:", 1)[1].split("|")
        assert '"^new"' in abc_bars[2] and '"^new"' not in "".join(abc_bars[:2] + abc_bars[3:])
        assert joined_notes(parse(open(output["abc"]).read(), "abc"))


def test_vary_and_interpolate_take_the_flags_too(run_clsm, tiny_model_dir, tmp_path, song):
    result, (record,) = edit(run_clsm, tiny_model_dir, tmp_path, "vary", song, "-n", "1", "--abc")
    assert result.exit_code == 0, result.output
    assert record["outputs"][0]["abc"].endswith(".abc") and record["outputs"][0]["musicxml"] is None
    result, (record,) = edit(run_clsm, tiny_model_dir, tmp_path, "interpolate", song, "--steps", "1", "--musicxml")
    assert result.exit_code == 0, result.output
    assert len(record["outputs"]) == 2 and all(o["musicxml"].endswith(".musicxml") for o in record["outputs"])


def test_a_failing_notation_write_leaves_no_output_of_the_set(run_clsm, tiny_model_dir, tmp_path, song, monkeypatch):
    def full_disk(job, path):
        raise OutputError(f"cannot write to the folder {path.parent} (No space left on device)")

    monkeypatch.setattr(formats, "ABC", formats.OutputFormat("abc", ".abc", full_disk))
    monkeypatch.setattr(formats, "FORMATS", (formats.MIDI, formats.WAV, formats.MUSICXML, formats.ABC))
    result, (record,) = edit(run_clsm, tiny_model_dir, tmp_path, "infill", song, "-n", "2", "--musicxml", "--abc")
    assert result.exit_code == 5 and not record["ok"]
    assert list((tmp_path / "out").iterdir()) == []


def test_an_existing_notation_file_refuses_the_set_before_the_model_runs(run_clsm, tiny_model_dir, tmp_path, song):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "song.infill-bars3-4-s2-1.abc").write_text("mine")
    result, (record,) = edit(run_clsm, tiny_model_dir, tmp_path, "infill", song, "-n", "1", "--abc")
    assert result.exit_code == 5 and "already exists" in record["error"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["song.infill-bars3-4-s2-1.abc"]


def test_on_a_track_with_chords_musicxml_keeps_them_and_abc_says_it_holds_the_top_line(
        run_clsm, tiny_model_dir, tmp_path):
    chords = write_song(tmp_path / "chords.mid", scale_melody(8), extra_melody_notes=[(32, 36, 55), (36, 40, 57)])
    result, (record,) = edit(run_clsm, tiny_model_dir, tmp_path, "infill", chords, "-n", "1", "--musicxml", "--abc")
    assert result.exit_code == 0, result.output
    assert any("ABC files hold its top line" in warning for warning in record["warnings"])
    output = record["outputs"][0]
    pitches = {p.midi for n in parse(open(output["musicxml"]).read(), "musicxml").flatten().notes for p in n.pitches}
    assert {55, 57} <= pitches  # the notes kept under the new melody, in a lower voice
    abc = open(output["abc"]).read()
    assert "N:the top line of a part with chords (2 lower notes left out" in abc
    abc_notes = joined_notes(parse(abc, "abc"))
    onsets = [key[0] for key in abc_notes.elements()]
    assert len(onsets) == len(set(onsets))  # one line: no chord, no second voice
    kept = {(Fraction(32, 4), 55), (Fraction(36, 4), 57)}  # the lower notes, in quarters from the start
    assert not kept & {(key[0], key[1]) for key in abc_notes}
