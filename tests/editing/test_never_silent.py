"""An infill is never silent, unchanged or a copy (issues 14 and 22).

Every chunk sees the bars on both sides of it; a sketch edited whole sees itself looped; a pool
member that is all rests, the original bars or a copy of an earlier member is drawn again from a
stream of its own and recorded; one that stays so is dropped, and a file left with none fails. The shipped model shows what a tiny random one cannot: whole
tunes, a 2-bar sketch and a whole multi-track song get no empty candidate.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from clsm_cli.constants import NUM_PITCHES, REST_TOKEN
from clsm_cli.editing import generate
from clsm_cli.editing.generate import Candidate
from clsm_cli.editing.options import EditOptions, command_decoding
from clsm_cli.editing.prepare import prepare_song
from clsm_cli.editing.draw import MAX_DRAWS, token_problem
from clsm_cli.editing.verbs import edit_file
from clsm_cli.editing.window import centred_window
from clsm_cli.music.bars import BarRange
from clsm_cli.music.tokens import pitch_to_token
from synthetic_midi.midi_factory import (
    STEP_TICKS,
    TrackSpec,
    make_midi,
    melody_track,
    output_line,
    scale_melody,
    write_song,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SKETCH = [(0, 4, 67), (4, 6, 69), (6, 8, 71), (8, 12, 72), (12, 16, 67), (16, 20, 64), (20, 24, 65), (24, 32, 67)]


def run_infill(path, model, bars, num=4, seed=1, temperature=None, out_dir=".", pool=None):
    options = EditOptions(verb="infill", bars=bars, seed=seed, num=num, temperature=temperature, out_dir=Path(out_dir),
                          pool=pool)
    return edit_file(Path(path), options, model, command_decoding(model.config, temperature, None))


def notes_in(tokens) -> int:
    return int(np.sum(np.asarray(tokens) < NUM_PITCHES))


# --- what "no edit" means (pure) -------------------------------------------------------------------------

RESTS = np.full(16, REST_TOKEN, dtype=np.uint8)
TUNE = np.array([pitch_to_token(60 + step % 5) for step in range(16)], dtype=np.uint8)


@pytest.mark.parametrize(
    ("tokens", "original", "earlier", "expected"),
    [
        (RESTS, TUNE, [], "all rests"),
        (RESTS, None, [], "all rests"),  # a silent target gets a melody too
        (TUNE, TUNE, [], "the original bars"),
        (TUNE, None, [TUNE[::-1].copy(), TUNE.copy()], "a copy of an earlier candidate"),
        (TUNE[::-1].copy(), TUNE, [], None),
    ],
)
def test_a_draw_is_no_edit_when_silent_unchanged_or_a_copy(tokens, original, earlier, expected):
    assert token_problem(tokens, original, earlier) == expected


# --- windows -------------------------------------------------------------------------------------------------


def test_a_target_at_bar_one_is_conditioned_on_the_bars_after_it(tmp_path, tiny_model):
    song = write_song(tmp_path / "tune.mid", scale_melody(16), accompaniment=False)
    prepared = prepare_song(song, BarRange(1, 16), None)
    window = centred_window(prepared, prepared.line, BarRange(1, 4), tiny_model.config)
    assert window.start_step == 0 and window.target.start == 0 and window.target.length == 64
    assert notes_in(window.tokens[64:]) == 16  # bars 5-8 of the song, a quarter note each beat


def test_a_sketch_edited_whole_sees_itself_looped_around_the_target(tmp_path, tiny_model):
    song = write_song(tmp_path / "sketch.mid", SKETCH, accompaniment=False)
    prepared = prepare_song(song, BarRange(1, 2), None)
    window = centred_window(prepared, prepared.line, BarRange(1, 2), tiny_model.config)
    assert window.looped and window.context_has_notes
    assert window.target.start == 48  # three bars of the loop before the target, three after
    target = window.tokens[48:80]
    assert np.array_equal(window.tokens[16:48], target) and np.array_equal(window.tokens[80:112], target)
    short = write_song(tmp_path / "short.mid", scale_melody(4), accompaniment=False)
    prepared = prepare_song(short, BarRange(2, 3), None)
    assert not centred_window(prepared, prepared.line, BarRange(2, 3), tiny_model.config).looped  # bars 1, 4 seen


# --- redraws ---------------------------------------------------------------------------------------------------


def scripted_infill(monkeypatch, silent_attempts):
    """generate.infill answering all rests for the attempts in ``silent_attempts``, a tune otherwise."""
    calls = []

    def fake_infill(engine, window, target, decoding, seed, candidates, chunk=0, attempt=0, rules=None):
        calls.append((tuple(candidates), chunk, attempt))
        return [Candidate(np.resize(RESTS if attempt in silent_attempts else np.roll(TUNE, k), target.length)
                          .astype(np.uint8), np.full(engine.config.z_dim, attempt, np.float32)) for k in candidates]

    monkeypatch.setattr(generate, "infill", fake_infill)
    return calls


def test_a_silent_draw_is_drawn_again_and_each_redraw_is_recorded(tmp_path, tiny_model, monkeypatch):
    song = write_song(tmp_path / "song.mid", scale_melody(8))
    calls = scripted_infill(monkeypatch, silent_attempts={0, 1})
    result = run_infill(song, tiny_model, BarRange(3, 4), num=2, out_dir=tmp_path, pool=2)
    assert result.ok, result.error
    assert calls == [((1, 2), 0, 0), ((1,), 0, 1), ((1,), 0, 2), ((2,), 0, 1), ((2,), 0, 2)]
    assert [(redraw.k, redraw.attempt, redraw.reason) for redraw in result.redraws] == [
        (1, 1, "all rests"), (1, 2, "all rests"), (2, 1, "all rests"), (2, 2, "all rests")]
    assert result.to_json()["redraws"][0] == {"k": 1, "bars": [3, 4], "attempt": 1, "reason": "all rests"}
    assert all(output.latents[0].w[0] == 2 for output in result.outputs)  # the third draw was kept
    assert not any("stayed" in warning for warning in result.warnings)
    assert all(any(32 <= note.start_step < 64 for note in output_line(output.path)) for output in result.outputs)


def test_a_file_whose_draws_stay_silent_fails_with_exit_3(tmp_path, tiny_model, monkeypatch):
    song = write_song(tmp_path / "song.mid", scale_melody(8))
    calls = scripted_infill(monkeypatch, silent_attempts=set(range(MAX_DRAWS)))
    result = run_infill(song, tiny_model, BarRange(3, 4), num=1, out_dir=tmp_path, pool=1)
    assert not result.ok and result.exit_code == 3 and not result.outputs
    assert "no acceptable candidate for bars 3-4" in result.error.message
    assert [attempt for _, _, attempt in calls] == list(range(MAX_DRAWS))
    assert result.to_json()["redraws"][-1]["reason"] == "dropped: all rests"


def test_a_copy_of_an_earlier_member_is_drawn_again(tmp_path, tiny_model, monkeypatch):
    song = write_song(tmp_path / "song.mid", scale_melody(8), accompaniment=False)

    def fake_infill(engine, window, target, decoding, seed, candidates, chunk=0, attempt=0, rules=None):
        return [Candidate(np.resize(np.roll(TUNE, 1 if attempt == 0 else k + 5), target.length).astype(np.uint8),
                          np.zeros(engine.config.z_dim, np.float32)) for k in candidates]

    monkeypatch.setattr(generate, "infill", fake_infill)
    result = run_infill(song, tiny_model, BarRange(3, 4), num=3, out_dir=tmp_path, pool=3)
    assert result.ok
    assert [(r.k, r.attempt, r.reason) for r in result.redraws] == [
        (2, 1, "a copy of an earlier candidate"), (3, 1, "a copy of an earlier candidate")]
    assert len({tuple(output.target_tokens) for output in result.outputs}) == 3


def test_the_original_bars_are_drawn_again(tmp_path, tiny_model, monkeypatch):
    song = write_song(tmp_path / "song.mid", scale_melody(8), accompaniment=False)
    prepared = prepare_song(song, BarRange(3, 4), None)
    original = centred_window(prepared, prepared.line, BarRange(3, 4), tiny_model.config)
    original_target = original.tokens[original.target.start: original.target.start + 32].copy()

    def fake_infill(engine, window, target, decoding, seed, candidates, chunk=0, attempt=0, rules=None):
        tokens = original_target if attempt == 0 else np.resize(TUNE, target.length).astype(np.uint8)
        return [Candidate(tokens.copy(), np.zeros(engine.config.z_dim, np.float32)) for _ in candidates]

    monkeypatch.setattr(generate, "infill", fake_infill)
    result = run_infill(song, tiny_model, BarRange(3, 4), num=1, out_dir=tmp_path, pool=1)
    assert [(redraw.attempt, redraw.reason) for redraw in result.redraws] == [(1, "the original bars")]


# --- the shipped model ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shipped_model():
    from clsm_cli.engine.load import load_engine

    return load_engine(None, "numpy", "cpu")


def multitrack_song(path) -> Path:
    """16 bars of pop: drums, bass, a pad, a named melody (quarters and eighths around C5)."""
    rng = np.random.default_rng(3)
    melody, step = [], 0
    while step < 16 * 16:
        length = int(rng.choice([2, 4, 4, 8]))
        melody.append((step, step + length, int(rng.choice([67, 69, 71, 72, 74, 76]))))
        step += length
    bass = [(bar * 16, bar * 16 + 8, 36 + (bar % 4) * 2) for bar in range(16)]
    pad = [(bar * 16, bar * 16 + 16, pitch) for bar in range(16) for pitch in (60, 64, 67)]
    drums = [(beat * 4 * STEP_TICKS, beat * 4 * STEP_TICKS + 60, 36, 100) for beat in range(64)]
    return make_midi(path, [
        melody_track(melody, ticks_per_step=STEP_TICKS, name="Melody", program=0),
        melody_track(bass, ticks_per_step=STEP_TICKS, name="Bass", channel=1, program=33),
        melody_track(pad, ticks_per_step=STEP_TICKS, name="Pad", channel=2, program=89),
        TrackSpec(drums, channel=9, program=None, name="Drums"),
    ], time_signatures=[(0, 4, 4)])


@pytest.mark.parametrize("case", ["16-bar tune", "2-bar sketch", "whole multi-track song"])
def test_the_shipped_model_writes_no_empty_candidate(case, tmp_path, shipped_model):
    if case == "16-bar tune":
        path, bars = EXAMPLES / "hoert-ihr-herrn.mid", BarRange(1, 16)
    elif case == "2-bar sketch":
        path, bars = write_song(tmp_path / "sketch.mid", SKETCH, accompaniment=False), BarRange(1, 2)
    else:
        path, bars = multitrack_song(tmp_path / "pop.mid"), BarRange(1, 16)
    for seed in (1, 2):
        result = run_infill(path, shipped_model, bars, num=4, seed=seed, out_dir=tmp_path / "out")
        assert result.ok, result.error
        assert result.track.endswith("(Melody)") or case == "16-bar tune"
        assert [notes_in(output.target_tokens) >= bars.count for output in result.outputs] == [True] * 4, case
        assert not any("stayed" in warning for warning in result.warnings)


@pytest.mark.parametrize(("case", "fewer", "more"), [("2-bar sketch", 4, 6), ("16-bar tune", 2, 3)])
def test_fewer_candidates_are_the_best_of_the_same_pool_redraws_and_chunks_included(case, fewer, more, tmp_path,
                                                                          shipped_model):
    if case == "2-bar sketch":
        path, bars = write_song(tmp_path / "sketch.mid", SKETCH, accompaniment=False), BarRange(1, 2)
    else:
        path, bars = EXAMPLES / "hoert-ihr-herrn.mid", BarRange(1, 16)
    few = run_infill(path, shipped_model, bars, num=fewer, seed=2, out_dir=tmp_path / "few")
    many = run_infill(path, shipped_model, bars, num=more, seed=2, out_dir=tmp_path / "many")
    assert few.ok and many.ok
    assert many.redraws == few.redraws  # the same pool, so the same redraws
    for one, other in zip(few.outputs, many.outputs):
        assert np.array_equal(one.target_tokens, other.target_tokens)
        assert all(np.array_equal(a.w, b.w) for a, b in zip(one.latents, other.latents))
        assert one.path.name == other.path.name and output_line(one.path) == output_line(other.path)
