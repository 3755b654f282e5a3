"""The explore session without a screen: candidates as infill draws them, the grid, kept files."""

import json

import numpy as np
import pytest

from clsm_cli.editing.controls import ControlRequest
from clsm_cli.editing.provenance import parse_provenance
from clsm_cli.errors import EXIT_INPUT, EXIT_OUTPUT, EXIT_USAGE, ClsmError, UsageError
from clsm_cli.explore.controls import EditControls
from clsm_cli.explore.session import GRID_SIZE
from clsm_cli.music.bars import BarRange
from clsm_cli.music.midi_read import read_midi, read_text_events


def _infill_outputs(run_clsm, song, model_dir, out, *extra):
    result = run_clsm("infill", song, "--bars", "3-4", "--model", model_dir, "--out", out, "--json", *map(str, extra))
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["outputs"]


def _same_as_infill(entries, outputs):
    """Each entry is the infill output of the same rank: its draw, its latent, its notes, its score."""
    assert len(entries) == len(outputs)
    for entry, output in zip(entries, outputs):
        assert entry.number == output["k"] and entry.draw_index == output["draw_index"]
        assert [float(x) for x in entry.candidate.w] == output["latents"][0]["w"]
        assert entry.score.to_json() == output["score"]


def test_candidate_k_is_infills_output_k(make_session, run_clsm, tiny_model_dir, song, tmp_path):
    session = make_session(seed=11)
    assert session.pool == 8 and all(entry.decoded for entry in session.entries)  # drawn when the session opens
    outputs = _infill_outputs(run_clsm, song, tiny_model_dir, tmp_path / "infills", "-n", "8", "--seed", 11)
    _same_as_infill(session.candidates, outputs)
    totals = [entry.score.total for entry in session.candidates]
    assert totals == sorted(totals, reverse=True)  # best first
    assert sorted(entry.draw_index for entry in session.candidates) != [e.draw_index for e in session.candidates]


def test_r_draws_the_next_members_and_ranks_the_pool_as_infill_ranks_a_bigger_pool(make_session, run_clsm,
                                                                                     tiny_model_dir, song, tmp_path):
    session = make_session(seed=11)
    before = {entry.draw_index: entry for entry in session.candidates}
    added = session.draw_more(4)
    assert session.pool == 12 and {entry.draw_index for entry in added} <= set(range(9, 13))
    assert all(before[j] is entry for j, entry in ((e.draw_index, e) for e in session.candidates) if j in before)
    outputs = _infill_outputs(run_clsm, song, tiny_model_dir, tmp_path / "infills", "-n", "12", "--pool", "12",
                              "--seed", 11)
    _same_as_infill(session.candidates, outputs)


def test_controls_redraw_the_pool_as_infill_draws_it_under_them(make_session, run_clsm, tiny_model_dir, song,
                                                               tmp_path):
    session = make_session(seed=4).with_controls(EditControls(key="C", range="60-72", max_leap=7, pool=6))
    assert session.pool == 6
    outputs = _infill_outputs(run_clsm, song, tiny_model_dir, tmp_path / "infills", "-n", "6", "--pool", "6",
                              "--seed", 4, "--key", "C", "--range", "60-72", "--max-leap", "7")
    _same_as_infill(session.candidates, outputs)
    for entry in session.candidates:
        new = [n for n in entry.line if session.start <= n.start_step < session.end and n.pitch is not None]
        assert all(60 <= n.pitch <= 72 and n.pitch % 12 in (0, 2, 4, 5, 7, 9, 11) for n in new)


def test_a_setting_the_song_cannot_meet_is_infills_sentence(make_session, run_clsm, tiny_model_dir, song, tmp_path):
    session = make_session()
    with pytest.raises(ClsmError) as caught:
        session.with_controls(EditControls(key="C", range="61-61"))
    result = run_clsm("infill", song, "--bars", "3-4", "--key", "C", "--range", "61-61", "--model", tiny_model_dir,
                      "--out", tmp_path / "x")
    assert caught.value.exit_code == EXIT_USAGE == result.exit_code
    assert caught.value.message in result.stderr


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
    assert record["draw_index"] == session.entries[1].draw_index > 0
    assert record["score"] == session.entries[1].score.to_json()
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


@pytest.mark.parametrize("values, option", [
    ({"key": "H"}, ["--key", "H"]), ({"range": "80-60"}, ["--range", "80-60"]), ({"range": "x"}, ["--range", "x"]),
    ({"density": "2"}, ["--density", "2"]), ({"density": "3-1"}, ["--density", "3-1"]),
    ({"keep_rhythm": True, "density": "1-2"}, ["--keep-rhythm", "--density", "1-2"]),
    ({"pool": "0"}, ["--pool", "0"]),
])
def test_controls_are_checked_with_infills_sentences(values, option, run_clsm, song, tiny_model_dir, tmp_path):
    with pytest.raises(UsageError) as caught:
        EditControls.from_text(values)
    result = run_clsm("infill", song, "--bars", "3-4", *option, "--model", tiny_model_dir, "--out", tmp_path / "x")
    assert caught.value.exit_code == EXIT_USAGE == result.exit_code
    assert caught.value.message in " ".join(result.stderr.split()), result.stderr


def test_controls_collect_the_editing_options_by_name():
    controls = EditControls.from_text({"key": "Am", "range": "G3-E6", "keep_rhythm": True, "max_leap": "5",
                                       "pool": "16"})
    assert controls.editing_arguments() == {"key": "Am", "range": "G3-E6", "keep_rhythm": True, "max_leap": 5,
                                            "pool": 16}
    assert controls.request() == ControlRequest("Am", (55, 88), True, 5, None)
    assert EditControls(range="any", key="AUTO", density="2-4").request() == ControlRequest("auto", "any", False, None,
                                                                                            (2.0, 4.0))
    assert EditControls().editing_arguments() == {} and EditControls().describe() == "defaults"
    with pytest.raises(UsageError, match="whole number"):
        EditControls.from_text({"max_leap": "x"})


def test_grid_cells_decode_under_the_controls(make_session):
    session = make_session(temperature=1.0).with_controls(EditControls(key="C", range="60-72"))
    session.open_grid(session.candidates[:4])
    for x, y in ((2, 1), (3, 3), (4, 5), (2, 4)):
        cell = session.decode(session.cell(x, y))
        new = [n for n in cell.line if session.start <= n.start_step < session.end and n.pitch is not None]
        assert new and all(60 <= n.pitch <= 72 and n.pitch % 12 in (0, 2, 4, 5, 7, 9, 11) for n in new)


def test_a_silent_target_is_filled_as_infill_fills_it(run_clsm, tiny_model_dir, tmp_path):
    """A part that enters late: the model hears the nearest bars that play, every bar gets a note,
    and the pool is infill's, member for member."""
    from clsm_cli.editing.options import EditOptions
    from clsm_cli.explore.session import ExploreSession, quiet_models
    from synthetic_midi.midi_factory import STEP_TICKS, make_midi, melody_track, scale_melody

    tune = [(start + 12 * 16, end + 12 * 16, pitch) for start, end, pitch in scale_melody(8, first_pitch=67)]
    pad = [(bar * 16, bar * 16 + 16, pitch) for bar in range(20) for pitch in (48, 52, 55)]
    late = make_midi(tmp_path / "late.mid", [melody_track(tune, ticks_per_step=STEP_TICKS, name="Melody"),
                                              melody_track(pad, ticks_per_step=STEP_TICKS, name="Pad", channel=1,
                                                           program=89)], time_signatures=[(0, 4, 4)])
    options = EditOptions(verb="explore", bars=BarRange(2, 3), seed=3, out_dir=tmp_path / "out",
                          model_arg=str(tiny_model_dir))
    session = ExploreSession(late, options, quiet_models(str(tiny_model_dir)))
    assert session.steering.silent_target
    assert any("silent in bars 2-3" in warning for warning in session.warnings)
    assert any("hears the melody from bar 13" in warning for warning in session.warnings)
    result = run_clsm("infill", late, "--bars", "2-3", "-n", "8", "--seed", "3", "--model", tiny_model_dir,
                      "--out", tmp_path / "infills", "--json")
    assert result.exit_code == 0, result.output
    _same_as_infill(session.candidates, json.loads(result.stdout)["outputs"])
    for entry in session.candidates:
        for first in (session.start, session.start + 16):
            assert any(first <= n.start_step < first + 16 and n.pitch is not None for n in entry.line)
