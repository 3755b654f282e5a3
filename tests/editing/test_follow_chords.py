"""New notes on the beats lean towards the chord the song's other tracks play (issue 24: harmony).

The rule is a lean, not a mask (``step_rules.chord_weights``): the sampler adds log-weights to the
logits (``sampling``'s leaning form), so a chord tone grows likelier on a beat and every pitch the
other controls allow stays possible.
"""

from __future__ import annotations

import numpy as np
import pytest

from clsm_cli.constants import HOLD_TOKEN, NUM_MUSIC_TOKENS, NUM_PITCHES, REST_TOKEN, TRIPLET_TOKEN
from clsm_cli.editing.controls import ControlRequest
from clsm_cli.editing.options import EditOptions, command_decoding
from clsm_cli.editing.step_rules import LineRules, chord_weights, file_pitches_of
from clsm_cli.editing.verbs import edit_file
from clsm_cli.music.bars import BarRange
from clsm_cli.sampling import Decoding, both_allowed, choose_tokens, step_masks, token_log_probs
from synthetic_midi.midi_factory import make_midi, melody_track

PITCHES = file_pitches_of(0)
C_MAJOR = frozenset({0, 4, 7})


def test_chord_weights_lean_to_the_chord_tones_on_its_beats_only():
    weights = chord_weights({16: C_MAJOR, 20: frozenset({9, 0, 4})}, PITCHES, target_start_step=16, length=8,
                            lean=2.0, unleaned_share=0.5)
    assert weights.shape == (8, NUM_PITCHES)
    chord_tone = np.isin(PITCHES % 12, [0, 4, 7])
    up = weights[0][chord_tone][0]
    assert np.all(weights[0][chord_tone] == up) and np.allclose(weights[0][~chord_tone], up - 2.0)
    assert np.isclose(0.5 * np.exp(up) + 0.5 * np.exp(up - 2.0), 1.0)  # a note on the beat stays as likely
    assert np.all(weights[1] == 0.0)  # no beat, no lean
    assert chord_weights({40: C_MAJOR}, PITCHES, 16, 8) is None  # a chord outside the target


def rules(**fields) -> LineRules:
    return LineRules(file_pitches=PITCHES, pitch_allowed=np.ones(NUM_PITCHES, dtype=bool), **fields)


def test_line_rules_answer_log_weights_and_keep_what_the_masks_forbid():
    weights = chord_weights({0: C_MAJOR}, PITCHES, 0, 8, lean=2.0)
    allowed = np.ones(NUM_PITCHES, dtype=bool)
    allowed[PITCHES % 12 == 4] = False  # a key without E
    leaning = LineRules(file_pitches=PITCHES, pitch_allowed=allowed, pitch_weights=weights)
    answer = leaning(0, np.zeros((2, 0), dtype=np.int64))
    assert answer.dtype == np.float64 and answer.shape == (2, NUM_MUSIC_TOKENS)
    assert np.all(np.isneginf(answer[:, :NUM_PITCHES][:, PITCHES % 12 == 4]))
    assert np.all(answer[:, :NUM_PITCHES][:, PITCHES % 12 == 7] == weights[0][PITCHES % 12 == 7])
    assert np.all(answer[:, [REST_TOKEN, HOLD_TOKEN]] == 0.0)
    assert rules()(0, np.zeros((1, 0), dtype=np.int64)).dtype == bool  # no chords: a plain mask


def test_a_triplet_quarter_leans_on_the_note_that_lands_on_the_beat():
    weights = chord_weights({0: C_MAJOR}, PITCHES, 0, 8, lean=2.0)
    leaning = rules(pitch_weights=weights, num_classes=NUM_MUSIC_TOKENS + 1)
    after_marker = leaning(1, np.array([[TRIPLET_TOKEN]]))  # the first triplet lands on the beat
    after_rest = leaning(1, np.array([[REST_TOKEN]]))  # a 16th after the beat
    assert after_marker[0, :NUM_PITCHES].max() == weights[0].max() > 0
    assert np.all(after_rest[0, :NUM_PITCHES] == 0.0)


def test_the_sampler_draws_under_log_weights_and_scores_what_it_drew():
    logits = np.zeros((1, 4))
    lean = np.array([0.0, 3.0, -np.inf, 0.0])
    draws = [int(choose_tokens(logits, Decoding(1.0, 1.0), np.array([u]), lean)[0]) for u in np.linspace(0, 0.999, 400)]
    share = np.bincount(draws, minlength=4) / len(draws)
    expected = np.exp([0.0, 3.0, -40, 0.0]) / np.exp([0.0, 3.0, -40, 0.0]).sum()
    assert share[2] == 0 and np.allclose(share, expected, atol=0.01)
    assert np.isclose(token_log_probs(logits, np.array([1]), Decoding(1.0, 1.0), lean[None])[0], np.log(expected[1]))
    mask = np.array([True, True, True, False])
    combined = both_allowed(mask, lean)
    assert np.isneginf(combined[2]) and np.isneginf(combined[3]) and combined[1] == 3.0
    assert both_allowed(mask, mask).dtype == bool


def test_step_masks_rebuild_leaning_steps_as_log_weights():
    weights = chord_weights({0: C_MAJOR}, PITCHES, 0, 2, lean=2.0)
    masks = step_masks(rules(pitch_weights=weights), np.array([[REST_TOKEN, REST_TOKEN]]), NUM_MUSIC_TOKENS)
    assert masks.dtype == np.float64 and masks[0, 0, :NUM_PITCHES].max() == weights[0].max() and np.all(masks[0, 1] == 0.0)


def song_with_chords(path):
    """8 bars in C: a stepwise tune over a piano playing one triad a bar (C, Am, F, G, ...)."""
    tune = [(step, step + 2, 72 + (0, 2, 4, 5, 7, 5, 4, 2)[step // 2 % 8]) for step in range(0, 128, 2)]
    roots = (48, 45, 41, 43) * 2
    triads = [(0, 4, 7), (0, 3, 7), (0, 4, 7), (0, 4, 7)] * 2
    piano = [(bar * 16, bar * 16 + 16, roots[bar] + 12 + interval) for bar in range(8) for interval in triads[bar]]
    return make_midi(path, [melody_track(tune, name="Melody"), melody_track(piano, name="Piano", channel=1)],
                     time_signatures=[(0, 4, 4)])


def chord_tone_share(result, chords_by_bar) -> tuple[int, int]:
    tones = notes = 0
    for output in result.outputs:
        for note in output.new_notes:
            if note.start_step % 4 == 0 and not note.tied_from_before:
                notes += 1
                tones += note.pitch % 12 in chords_by_bar[note.start_step // 16]
    return tones, notes


@pytest.mark.parametrize("engine", ["numpy", "torch"])
def test_new_notes_on_the_beats_follow_the_other_tracks_chords(engine, tiny_model_dir, tmp_path):
    from clsm_cli.engine.load import load_engine

    model = load_engine(str(tiny_model_dir), engine, "cpu")
    path = song_with_chords(tmp_path / "chords.mid")
    chords_by_bar = [frozenset((root + i) % 12 for i in triad) for root, triad in
                     zip((48, 45, 41, 43) * 2, [(0, 4, 7), (0, 3, 7), (0, 4, 7), (0, 4, 7)] * 2)]
    shares = {}
    for follow in (True, False):
        tones = notes = 0
        for seed in (1, 2, 3):
            options = EditOptions(verb="infill", bars=BarRange(3, 6), seed=seed, num=4, out_dir=tmp_path / f"{follow}{seed}",
                                  temperature=1.0, track="Melody", controls=ControlRequest(follow_chords=follow))
            result = edit_file(path, options, model, command_decoding(model.config, 1.0, None))
            assert result.ok, result.error
            got = chord_tone_share(result, chords_by_bar)
            tones, notes = tones + got[0], notes + got[1]
        assert notes >= 20
        shares[follow] = tones / notes
    assert shares[True] >= shares[False] + 0.2, shares


def test_the_edge_rules_keep_a_leaning_rules_weights():
    from clsm_cli.editing.edge_rules import NoHoldUnderKept, RestsBeforeTheFile

    weights = chord_weights({0: C_MAJOR}, PITCHES, 0, 4, lean=2.0)
    leaning = rules(pitch_weights=weights)
    no_hold = NoHoldUnderKept(leaning, NUM_MUSIC_TOKENS)(0, np.zeros((2, 0), dtype=np.int64))
    assert no_hold.dtype == np.float64 and np.all(np.isneginf(no_hold[:, HOLD_TOKEN]))
    assert np.all(no_hold[:, :NUM_PITCHES] == leaning(0, np.zeros((2, 0), dtype=np.int64))[:, :NUM_PITCHES])
    padded = RestsBeforeTheFile(leaning, 1, NUM_MUSIC_TOKENS)
    assert padded(0, np.zeros((1, 0), dtype=np.int64)).tolist() == [t == REST_TOKEN for t in range(NUM_MUSIC_TOKENS)]
    assert padded(1, np.zeros((1, 1), dtype=np.int64)).dtype == np.float64
