"""The controls' step masks (``editing/step_rules.LineRules``) on the triplet grid."""

import numpy as np

from clsm_cli.constants import HOLD_TOKEN, NUM_PITCHES, REST_TOKEN, TRIPLET_TOKEN, TRIPLET_VOCAB_SIZE
from clsm_cli.editing.step_rules import LineRules, file_pitches_of, rhythm_classes


def rules(**fields) -> LineRules:
    pitches = file_pitches_of(0)
    return LineRules(file_pitches=pitches, pitch_allowed=np.ones(NUM_PITCHES, dtype=bool),
                     num_classes=TRIPLET_VOCAB_SIZE, **fields)


def test_the_top_voice_floor_follows_a_triplet_to_the_16th_it_lands_on():
    floor = np.full(8, -1)
    floor[1] = 67  # a kept note (G4) starts on the quarter's second 16th
    mask = rules(floor=floor)
    triplet_so_far = np.array([[TRIPLET_TOKEN, 5]])  # a triplet quarter: its 2nd triplet lands on 16th 1
    row = mask(2, triplet_so_far)[0]
    assert not row[: 67 - 55 + 1].any() and row[67 - 55 + 1 : NUM_PITCHES].all()
    straight = np.array([[5, HOLD_TOKEN]])  # a plain quarter: token 2 is 16th 2, no kept note there
    assert mask(2, straight)[0][:NUM_PITCHES].all()
    assert not mask(1, np.array([[5]]))[0][: 67 - 55 + 1].any()  # a plain quarter's 16th 1 has the floor


def test_keep_rhythm_keeps_a_triplet_quarter_and_grammar_tokens_are_left_to_the_grid():
    original = np.array([TRIPLET_TOKEN, 3, 4, 5, 6, HOLD_TOKEN, REST_TOKEN, HOLD_TOKEN])
    keep = rules(rhythm=rhythm_classes(original))
    first = keep(0, np.zeros((1, 0), dtype=np.int64))[0]
    assert first[TRIPLET_TOKEN] and first.sum() == 1  # the original's marker, nothing else
    free = rules()(0, np.zeros((1, 0), dtype=np.int64))[0]
    assert free[TRIPLET_TOKEN] and free[:NUM_PITCHES].all()  # without a rhythm the grid's mask decides


def test_the_vectorised_masks_equal_the_row_by_row_rule():
    """Without a rhythm or density rule every row is masked at once; it must be the same rule."""
    rng = np.random.default_rng(0)
    for _ in range(200):
        allowed = rng.random(NUM_PITCHES) < 0.7
        allowed[int(rng.integers(NUM_PITCHES))] = True
        floor = np.where(rng.random(16) < 0.3, rng.integers(55, 80, 16), -1) if rng.random() < 0.5 else None
        mask = LineRules(file_pitches=file_pitches_of(int(rng.integers(-1, 2)) * 12), pitch_allowed=allowed,
                         previous_pitch=None if rng.random() < 0.3 else int(rng.integers(55, 80)),
                         max_leap=None if rng.random() < 0.3 else int(rng.integers(1, 12)), floor=floor,
                         num_classes=TRIPLET_VOCAB_SIZE)
        step = int(rng.integers(0, 16))
        drawn = rng.integers(0, 32, size=(6, step))
        drawn[:, [q for q in range(0, step, 4) if rng.random() < 0.3]] = TRIPLET_TOKEN
        assert np.array_equal(mask(step, drawn), np.stack([mask._row(step, row) for row in drawn]))
