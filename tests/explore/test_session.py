"""The explore session without a screen: candidates as infill draws them, the grid, kept files."""

import json

import numpy as np
import pytest

from clsm_cli.editing.provenance import parse_provenance
from clsm_cli.errors import EXIT_INPUT, EXIT_OUTPUT, EXIT_USAGE, ClsmError, UsageError
from clsm_cli.explore.controls import EditControls
from clsm_cli.explore.session import GRID_SIZE
from clsm_cli.music.bars import BarRange
from clsm_cli.music.midi_read import read_midi, read_text_events


def test_candidate_j_is_infills_candidate_j(make_session, run_clsm, tiny_model_dir, song, tmp_path):
    session = make_session(seed=11)
    result = run_clsm("infill", song, "--bars", "3-4", "-n", "3", "--seed", "11", "--model", tiny_model_dir,
                      "--out", tmp_path / "infills", "--json")
    record = json.loads(result.stdout)
    for output, entry in zip(record["outputs"], session.entries[1:4]):
        session.decode(entry)
        assert [float(x) for x in entry.candidate.w] == output["latents"][0]["w"]


def test_candidates_decode_when_first_asked_for_and_get_a_score(make_session):
    session = make_session()
    assert [entry.label for entry in session.entries] == ["original"] + [f"candidate {j}" for j in range(1, 5)]
    assert session.entries[0].decoded and not any(entry.decoded for entry in session.entries[1:])
    entry = session.decode(session.entries[2])
    assert entry.decoded and entry.score is not None and entry.score < 0
    added = session.more(3)
    assert [entry.label for entry in added] == ["candidate 5", "candidate 6", "candidate 7"]


def test_the_passage_is_the_target_with_a_bar_either_side_and_the_other_tracks(make_session):
    session = make_session()
    entry = session.decode(session.entries[1])
    notes = session.passage(entry)
    assert session.shown_bars == BarRange(2, 5)
    assert min(note.start_s for note in notes) >= 0 and max(note.end_s for note in notes) <= 4 * 2.0 + 1e-6
    assert any(note.is_drum for note in notes) and any(note.program == 33 for note in notes)  # drums and bass under it


def test_kept_files_carry_provenance_that_interpolate_and_vary_continue_from(make_session, run_clsm, tiny_model_dir,
                                                                             song, tmp_path):
    session = make_session(seed=3)
    first, second = session.keep(session.entries[1]), session.keep(session.entries[2])
    assert first.name == "song.explore-bars3-4-s3-1.mid" and second.name == "song.explore-bars3-4-s3-2.mid"
    (record,) = parse_provenance(read_text_events(first))
    assert record["verb"] == "explore" and record["k"] == 1 and record["bars"] == [3, 4]
    assert record["command"].startswith("clsm explore ") and "--seed 3" in record["command"]
    result = run_clsm("interpolate", "--start", first, "--end", second, "--bars", "3-4", "--steps", "2",
                      "--model", tiny_model_dir, "--out", tmp_path / "between", "--json")
    assert result.exit_code == 0, result.output
    outputs = json.loads(result.stdout)["outputs"]
    assert outputs[0]["latents"][0]["w"] == [float(x) for x in session.entries[1].candidate.w]  # reused, not encoded
    assert "encoded" not in result.stderr
    varied = run_clsm("vary", song, "--bars", "3-4", "--around", first, "--amount", "0", "-n", "1", "--model",
                      tiny_model_dir, "--out", tmp_path / "around", "--json")
    assert varied.exit_code == 0 and json.loads(varied.stdout)["outputs"][0]["latents"][0]["w"] == outputs[0]["latents"][0]["w"]
    with pytest.raises(ClsmError) as refused:
        session.keep(session.entries[1])
    assert refused.value.exit_code == EXIT_OUTPUT and "already exists" in refused.value.message
    with pytest.raises(ClsmError, match="already in the song"):
        session.keep(session.entries[0])


def test_the_grid_has_the_four_candidates_at_its_corners_and_decodes_cells_between(make_session):
    session = make_session(temperature=1.0)
    corners = session.entries[1:5]
    grid = session.open_grid(corners)
    assert grid.w.shape[:2] == (GRID_SIZE, GRID_SIZE)
    for (x, y), corner in zip(((1, 1), (GRID_SIZE, 1), (GRID_SIZE, GRID_SIZE), (1, GRID_SIZE)), corners):
        assert np.array_equal(session.cell(x, y).candidate.tokens, corner.candidate.tokens)
        assert np.array_equal(grid.w[y - 1, x - 1], corner.candidate.w)
    middle = session.cell(3, 3)
    assert not middle.decoded
    session.decode(middle)
    assert middle.decoded and np.allclose(grid.w[2, 2], np.mean([c.candidate.w for c in corners], axis=0), atol=1e-5)
    kept = session.keep(middle)
    assert kept.name == "song.explore-bars3-4-s5-grid-3-3.mid"
    assert parse_provenance(read_text_events(kept))[0]["grid"] == [3, 3]


def test_accept_writes_the_song_and_goes_on_editing_it(make_session, tmp_path):
    session = make_session()
    chosen = session.decode(session.entries[1])
    after = session.accept(chosen)
    assert after.prepared.path == tmp_path / "out" / "song.accepted-1.mid"
    start, end = session.start, session.end
    assert [n for n in after.prepared.line if start <= n.start_step < end] == \
        [n for n in chosen.line if start <= n.start_step < end]
    assert after.kept_path(after.entries[1]).name == "song.accepted-1.explore-bars3-4-s5-1.mid"
    other = after.with_bars(BarRange(6, 7))
    assert other.options.bars == BarRange(6, 7) and other.root_stem == "song"
    assert other.accept(other.decode(other.entries[1])).prepared.path.name == "song.accepted-2.mid"
    assert len(read_midi(tmp_path / "out" / "song.accepted-2.mid").tracks) == 3


def test_bad_bars_are_infills_sentences(make_session, run_clsm, tiny_model_dir, song, tmp_path):
    session = make_session()
    with pytest.raises(ClsmError) as caught:
        session.with_bars(BarRange(12, 13))
    result = run_clsm("infill", song, "--bars", "12-13", "--model", tiny_model_dir, "--out", tmp_path / "x")
    assert caught.value.exit_code == EXIT_INPUT == result.exit_code
    assert caught.value.message in result.stderr
    with pytest.raises(UsageError, match="at most 4 bars"):
        session.with_bars(BarRange(1, 6))


@pytest.mark.parametrize("values, problem", [
    ({"key": "H"}, "key must be"), ({"range": "80-60"}, "range must be"), ({"max_leap": "x"}, "whole number"),
    ({"density": "2"}, "density must be LOW-HIGH"), ({"pool": "0"}, "pool must be in range"),
])
def test_controls_are_checked_with_one_sentence(values, problem):
    with pytest.raises(UsageError, match=problem) as caught:
        EditControls.from_text(values)
    assert caught.value.exit_code == EXIT_USAGE


def test_controls_collect_the_editing_options_by_name():
    controls = EditControls.from_text({"key": "Am", "range": "60-79", "keep_rhythm": True, "max_leap": "5",
                                       "density": "2-6", "pool": "16"})
    assert controls.editing_arguments() == {"key": "Am", "range": "60-79", "keep_rhythm": True, "max_leap": 5,
                                            "density": "2-6", "pool": 16}
    assert controls.request_arguments() == {"key": "Am", "pitch_range": (60, 79), "keep_rhythm": True, "max_leap": 5,
                                            "density": (2.0, 6.0)}
    assert EditControls(range="any").request_arguments() == {"pitch_range": "any"}
    assert EditControls().editing_arguments() == {} and EditControls().describe() == "defaults"
