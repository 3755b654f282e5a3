"""Windows of one track: cutting, rest filter, transpositions, training-overlap digests."""

from __future__ import annotations

import hashlib
import random

import numpy as np
import pytest

from clsm_cli.constants import HOLD_TOKEN, REST_TOKEN, WINDOW_STEPS
from clsm_cli.data.windows import (
    TrackWindows,
    allowed_shifts,
    augment_windows,
    cut_track_windows,
    pitches_in_range,
    seen_in_training,
    transpose_windows,
    window_digests,
)
from clsm_cli.music.tokens import (
    NoteColumns,
    StepNote,
    cut_window,
    encode_notes,
    longest_rest_steps,
    pitch_to_token,
)


def random_line(rng: random.Random, num_bars: int) -> list[StepNote]:
    """A monophonic line with notes and rests of many lengths, some rests longer than a bar."""
    notes, step = [], rng.randrange(0, 20)
    while step < num_bars * 16:
        length = rng.choice((1, 2, 3, 4, 6, 8, 12, 16, 24))
        notes.append(StepNote(step, min(step + length, num_bars * 16), rng.randint(55, 84)))
        step += length + rng.choice((0, 0, 0, 1, 2, 5, 14, 17, 20, 40))
    return notes


@pytest.mark.parametrize("seed", range(12))
def test_vectorised_cut_equals_cut_window_and_longest_rest(seed):
    rng = random.Random(seed)
    num_bars = rng.randint(8, 30)
    notes = random_line(rng, num_bars)
    cut = cut_track_windows(notes, num_bars)
    line = encode_notes(notes, num_bars * 16)
    expected, starts, dropped = [], [], 0
    for bar in range(num_bars - 7):
        window = cut_window(line, bar * 16, WINDOW_STEPS)
        if longest_rest_steps(window) > 16:
            dropped += 1
        else:
            expected.append(window)
            starts.append(bar)
    assert cut.dropped_for_rest == dropped
    assert cut.start_bars.tolist() == starts
    assert np.array_equal(cut.windows, np.array(expected).reshape(-1, WINDOW_STEPS))
    assert all(window[0] != HOLD_TOKEN for window in cut.windows)  # canonical


@pytest.mark.parametrize("steps_per_bar", [6, 8, 12, 18])
@pytest.mark.parametrize("seed", range(4))
def test_cut_in_other_meters_has_their_bars_and_rest_limit(steps_per_bar, seed):
    # 3/8, 2/4, 3/4 or 6/8, 9/8: windows of 8 such bars; at most one such bar of rest.
    rng = random.Random(seed)
    num_bars = rng.randint(8, 30)
    notes = [note for note in random_line(rng, num_bars) if note.end_step <= num_bars * steps_per_bar]
    cut = cut_track_windows(notes, num_bars, steps_per_bar)
    line = encode_notes(notes, num_bars * steps_per_bar)
    windows = [cut_window(line, bar * steps_per_bar, 8 * steps_per_bar) for bar in range(num_bars - 7)]
    kept = [bar for bar, window in enumerate(windows) if longest_rest_steps(window) <= steps_per_bar]
    assert cut.start_bars.tolist() == kept and cut.dropped_for_rest == len(windows) - len(kept)
    assert np.array_equal(cut.windows, np.array([windows[bar] for bar in kept]).reshape(-1, 8 * steps_per_bar))


def test_rest_of_exactly_one_bar_is_kept_and_longer_dropped():
    notes = [StepNote(0, 48, 60), StepNote(64, 128, 62), StepNote(145, 256, 64)]  # rests of 16 and 17 steps
    cut = cut_track_windows(notes, 16)
    # Windows 0..8; those reaching step 145 hold the 17-step rest (128..144): starts 2..8 -> dropped.
    assert cut.start_bars.tolist() == [0, 1] and cut.dropped_for_rest == 7


def test_window_starting_inside_a_note_or_rest_is_canonical():
    notes = [StepNote(0, 24, 70), StepNote(40, 160, 72)]
    cut = cut_track_windows(notes, 10)
    assert cut.windows[0][0] == pitch_to_token(70)
    assert cut.windows[1][0] == pitch_to_token(70)  # step 16 is inside the first note
    # Step 32 lies in the rest 24..40: the window starts with R, then holds, then the note at 40.
    assert cut.windows[2][:9].tolist() == [REST_TOKEN] + [HOLD_TOKEN] * 7 + [pitch_to_token(72)]


def test_short_tracks_give_no_window_and_out_of_range_is_refused():
    assert len(cut_track_windows([StepNote(0, 16, 60)], 7)) == 0
    with pytest.raises(ValueError, match="55..84"):
        cut_track_windows([StepNote(0, 16, 90)], 8)


def test_allowed_shifts_keep_the_whole_track_in_range():
    assert allowed_shifts([StepNote(0, 1, 60), StepNote(1, 2, 72)]) == tuple(range(-5, 6))
    assert allowed_shifts([StepNote(0, 1, 55), StepNote(1, 2, 84)]) == (0,)
    assert allowed_shifts([StepNote(0, 1, 57), StepNote(1, 2, 80)]) == (-2, -1, 0, 1, 2, 3, 4)
    assert allowed_shifts([StepNote(0, 1, 54)]) == ()
    assert allowed_shifts([]) == ()


def test_augment_and_transpose():
    notes = [StepNote(step, step + 4, 61 + (step // 4) % 5) for step in range(0, 9 * 16, 4)]
    cut = cut_track_windows(notes, 9)
    windows, start_bars, shifts = augment_windows(cut)
    assert len(windows) == len(cut) * len(cut.shifts) == 2 * 12
    assert shifts.tolist() == [s for s in range(-6, 6) for _ in range(2)]
    assert start_bars.tolist() == [0, 1] * 12
    up = transpose_windows(cut.windows, 3)
    is_pitch = cut.windows < 30
    assert np.array_equal(up[is_pitch], cut.windows[is_pitch] + 3)
    assert np.array_equal(up[~is_pitch], cut.windows[~is_pitch])
    with pytest.raises(ValueError, match="leaves the pitch range"):
        transpose_windows(cut.windows, 30)


def test_shifts_and_digests_equal_their_straightforward_definitions():
    rng = np.random.default_rng(0)
    windows = rng.integers(0, 32, (50, WINDOW_STEPS)).astype(np.uint8)  # pitch tokens, R and __
    windows = np.where(windows < 30, windows // 2 + 6, windows).astype(np.uint8)  # pitch tokens 6..20
    for semitones in range(-6, 10):
        expected = np.where(windows < 30, windows.astype(int) + semitones, windows)
        assert transpose_windows(windows, semitones).tolist() == expected.tolist()
    for semitones in (-7, 10, -40, 40):  # below token 0 (uint8 would wrap) or above 29
        with pytest.raises(ValueError, match="leaves the pitch range"):
            transpose_windows(windows, semitones)
    silent = np.full((2, 4), REST_TOKEN, dtype=np.uint8)
    assert transpose_windows(silent, 40).tolist() == silent.tolist()  # no pitch to move

    track = TrackWindows(windows, np.arange(50, dtype=np.int32), (-6, 0, 9), 0)
    augmented, start_bars, shifts = augment_windows(track)
    assert augmented.tolist() == np.concatenate([transpose_windows(windows, s) for s in (-6, 0, 9)]).tolist()
    assert shifts.tolist() == [-6] * 50 + [0] * 50 + [9] * 50 and start_bars.tolist() == list(range(50)) * 3
    with pytest.raises(ValueError, match="leaves the pitch range"):
        augment_windows(TrackWindows(windows, np.arange(50, dtype=np.int32), (0, 10), 0))

    digests = [int.from_bytes(hashlib.blake2b(row.tobytes(), digest_size=8).digest(), "little") for row in windows]
    assert window_digests(windows).dtype == np.uint64 and window_digests(windows).tolist() == digests
    assert window_digests(windows[:0]).shape == (0,)


def test_range_and_shifts_from_step_notes_or_columns():
    line = [StepNote(0, 4, 57), StepNote(4, 8, 80)]
    columns = NoteColumns.from_notes(line)
    assert allowed_shifts(columns) == allowed_shifts(line) == (-2, -1, 0, 1, 2, 3, 4)
    assert pitches_in_range(columns) and pitches_in_range([]) and not pitches_in_range([StepNote(0, 1, 85)])
    assert np.array_equal(cut_track_windows(columns, 9).windows, cut_track_windows(line, 9).windows)


def test_seen_in_training_finds_equal_and_transposed_windows():
    def line(seed: int) -> list[StepNote]:
        rng = random.Random(seed)
        return [StepNote(step, step + 2, rng.randint(60, 70)) for step in range(0, 12 * 16, 2)]

    training = cut_track_windows(line(1), 12).windows
    digests = np.unique(window_digests(training))
    fresh = cut_track_windows(line(2), 12).windows
    candidates = np.concatenate([training[:2], fresh[:2], transpose_windows(training[2:3], 2), transpose_windows(training[3:4], -5)])
    assert seen_in_training(candidates, digests).tolist() == [True, True, False, False, True, True]
    assert not seen_in_training(candidates, np.zeros(0, np.uint64)).any()
    # A shift beyond the augmentation range (-6..+5) is another melody, not a copy.
    assert not seen_in_training(transpose_windows(training[:1], 7), digests).any()
