"""Training windows from one melody track: tokens, 8-bar windows, rest filter, transpositions.

Pure functions on numpy arrays (no files, no music21, no MIDI), following paper section 3.1:

1. a monophonic track whose pitches lie in 55..84 is encoded on the 16th-note grid
   (:func:`clsm_cli.music.tokens.encode_notes`) over whole bars (16 steps a bar in 4/4, 12 in 3/4
   and 6/8, 8 in 2/4: the meter's ``steps_per_bar``);
2. 8-bar windows are cut with a 1-bar stride, each inside one meter (none crosses a meter
   change), in canonical form (a window starting inside a note begins with that note's pitch,
   inside a rest with ``R``), exactly as
   :func:`clsm_cli.music.tokens.cut_window` would cut them (vectorised here; the tests compare);
3. windows holding more than one bar (16 steps in 4/4) of consecutive rest are dropped;
4. training splits add every transposition in -6..+5 semitones that keeps the *whole track* in
   range (the paper transposes tracks, not windows); held-out splits keep the original key.

Windows of held-out splits that repeat a training window are found by 64-bit digests
(:func:`window_digests`), so the training set never has to stay in memory.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from clsm_cli.constants import (
    BARS_PER_WINDOW,
    FIRST_PITCH_TOKEN,
    HOLD_TOKEN,
    MAX_PITCH,
    MIN_PITCH,
    NUM_PITCHES,
    REST_TOKEN,
    STEPS_PER_BAR,
    TRANSPOSITIONS_SEMITONES,
    TRIPLET_TOKEN,
    WINDOW_STEPS,
)
from clsm_cli.music.tokens import TOKEN_DTYPE, NoteColumns, StepNote, encode_notes
from clsm_cli import timebase

WINDOW_STRIDE_BARS = 1
MAX_REST_BARS = 1  # a window may hold at most one bar (of its meter) of consecutive rest


@dataclass(frozen=True)
class TrackWindows:
    """The windows of one track in its original key, and the transpositions the track allows."""

    windows: np.ndarray  # (n, window_steps) uint8, canonical
    start_bars: np.ndarray  # (n,) int32, 0-based bar of each window's first step
    shifts: tuple[int, ...]  # semitone shifts (0 included) keeping every pitch of the track in range
    dropped_for_rest: int  # windows cut but dropped for holding more than one bar of rest

    def __len__(self) -> int:
        return len(self.windows)


def pitches_in_range(notes: Sequence[StepNote] | NoteColumns) -> bool:
    """True when every pitch lies in 55..84 (also for no notes)."""
    pitches = NoteColumns.from_notes(notes).pitches
    return not len(pitches) or bool(MIN_PITCH <= pitches.min() and pitches.max() <= MAX_PITCH)


def allowed_shifts(notes: Sequence[StepNote] | NoteColumns) -> tuple[int, ...]:
    """Every shift in -6..+5 that keeps all pitches of the track in 55..84 (none for a track that
    is not in range to begin with)."""
    pitches = NoteColumns.from_notes(notes).pitches
    if not len(pitches):
        return ()
    lowest, highest = int(pitches.min()), int(pitches.max())
    if lowest < MIN_PITCH or highest > MAX_PITCH:
        return ()
    return tuple(s for s in TRANSPOSITIONS_SEMITONES if MIN_PITCH <= lowest + s and highest + s <= MAX_PITCH)


def cut_track_windows(
    notes: Sequence[StepNote] | NoteColumns,
    num_bars: int,
    steps_per_bar: int = STEPS_PER_BAR,
    max_rest_steps: int | None = None,
) -> TrackWindows:
    """8-bar windows (1-bar stride) of a monophonic, in-range track in one meter, rest-filtered.

    ``notes`` (step notes, or their columns when the caller has them already) are on a grid where
    bar ``b`` (0-based) starts at step ``b * steps_per_bar``. ``max_rest_steps`` defaults to one bar.
    """
    start_bars = np.arange(0, max(num_bars - BARS_PER_WINDOW + 1, 0), WINDOW_STRIDE_BARS)
    return cut_windows_at(
        notes,
        total_steps=num_bars * steps_per_bar,
        start_steps=start_bars * steps_per_bar,
        start_bars=start_bars,
        window_steps=timebase.window_steps(steps_per_bar),
        max_rest_steps=steps_per_bar if max_rest_steps is None else max_rest_steps,
    )


def cut_windows_at(
    notes: Sequence[StepNote] | NoteColumns,
    total_steps: int,
    start_steps: np.ndarray,
    start_bars: np.ndarray,
    window_steps: int,
    max_rest_steps: int,
    tokens: np.ndarray | None = None,
) -> TrackWindows:
    """Windows of ``window_steps`` steps starting at ``start_steps`` of a track's ``total_steps``.

    The general cut behind :func:`cut_track_windows`: a song whose meter changes gives each of its
    meters the window starts that lie wholly inside it (``start_bars`` are their 0-based bars).
    ``tokens`` are the track's tokens when they are not the 16th grid's tokens of ``notes`` (the
    triplet grid: ``music/triplets.py``; its ``3:`` markers take a step and no time); ``notes``
    still give the pitch range and the transpositions.
    """
    line = NoteColumns.from_notes(notes)  # once: the range check, the shifts and the tokens read it
    if not pitches_in_range(line):
        raise ValueError(f"track pitches must lie in {MIN_PITCH}..{MAX_PITCH}; filter the track first")
    shifts = allowed_shifts(line)
    starts = np.asarray(start_steps, dtype=np.int64)
    if not len(starts):
        windows = np.zeros((0, window_steps), dtype=TOKEN_DTYPE)
        return TrackWindows(windows, np.zeros(0, np.int32), shifts, 0)
    if tokens is None:
        tokens = encode_notes(line, total_steps, start_step=0)
    # Vectorised equivalent of cut_window + longest_rest_steps per window (tests check the two agree).
    sounding = _sounding_tokens(tokens)
    windows = np.lib.stride_tricks.sliding_window_view(tokens, window_steps)[starts].copy()
    # Canonical: the window's first timed token (after a triplet marker) says what sounds.
    first = (windows[:, 0] == TRIPLET_TOKEN).astype(np.int64)
    rows = np.arange(len(windows))
    windows[rows, first] = np.where(windows[rows, first] == HOLD_TOKEN, sounding[starts + first], windows[rows, first])
    keep = _longest_rest_in_windows(sounding == REST_TOKEN, starts, window_steps) <= max_rest_steps
    return TrackWindows(
        windows=windows[keep],
        start_bars=np.asarray(start_bars, dtype=np.int32)[keep],
        shifts=shifts,
        dropped_for_rest=int((~keep).sum()),
    )


def _sounding_tokens(tokens: np.ndarray) -> np.ndarray:
    """Per step, the pitch or R token whose sound covers it (holds and triplet markers forward-filled;
    R before any)."""
    positions = np.where((tokens != HOLD_TOKEN) & (tokens != TRIPLET_TOKEN), np.arange(len(tokens)), -1)
    last_onset = np.maximum.accumulate(positions)
    return np.where(last_onset >= 0, tokens[np.maximum(last_onset, 0)], REST_TOKEN).astype(TOKEN_DTYPE)


def _longest_rest_in_windows(resting: np.ndarray, starts: np.ndarray, window_steps: int) -> np.ndarray:
    """Longest run of resting steps inside each window ``[start, start + window_steps)``."""
    edges = np.diff(np.concatenate([[0], resting.astype(np.int8), [0]]))
    run_starts, run_ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    if not len(run_starts):
        return np.zeros(len(starts), dtype=np.int64)
    window_starts = starts[:, None]
    overlap = np.minimum(run_ends[None, :], window_starts + window_steps) - np.maximum(run_starts[None, :], window_starts)
    return np.clip(overlap, 0, None).max(axis=1)


def transpose_windows(windows: np.ndarray, semitones: int) -> np.ndarray:
    """All windows shifted by ``semitones`` (R, __ and specials stay); ValueError when a pitch would
    leave 55..84."""
    windows = np.asarray(windows, dtype=TOKEN_DTYPE)
    if semitones == 0:
        return windows.copy()
    is_pitch = windows < FIRST_PITCH_TOKEN + NUM_PITCHES
    _check_shift(_pitch_token_range(windows, is_pitch), semitones)
    return _shift_pitch_tokens(windows, is_pitch, semitones)


def _pitch_token_range(windows: np.ndarray, is_pitch: np.ndarray) -> tuple[int, int] | None:
    """Lowest and highest pitch token in ``windows`` (None when there is none)."""
    if not is_pitch.any():
        return None
    # Pitch tokens are the lowest ids, so the lowest token is the lowest pitch token.
    return int(windows.min()), int(np.where(is_pitch, windows, FIRST_PITCH_TOKEN).max())


def _check_shift(pitch_token_range: tuple[int, int] | None, semitones: int) -> None:
    if pitch_token_range is None:
        return
    lowest, highest = pitch_token_range
    if lowest + semitones < FIRST_PITCH_TOKEN or highest + semitones >= FIRST_PITCH_TOKEN + NUM_PITCHES:
        raise ValueError(f"a shift of {semitones} semitones leaves the pitch range {MIN_PITCH}..{MAX_PITCH}")


def _shift_pitch_tokens(
    windows: np.ndarray, is_pitch: np.ndarray, semitones: int, out: np.ndarray | None = None
) -> np.ndarray:
    """``windows`` with every pitch token moved by ``semitones`` (range checked by the caller).

    uint8 arithmetic wraps, so adding ``semitones % 256`` moves a pitch token down for a negative
    shift; a checked shift never wraps a pitch token out of 0..29.
    """
    step = np.multiply(is_pitch.view(np.uint8), np.uint8(semitones % 256), dtype=np.uint8)
    return np.add(windows, step, out=out, dtype=np.uint8)


def augment_windows(track: TrackWindows) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Training windows: every allowed shift of every window, ordered by shift then window.

    Returns ``(windows (n*k, 128), start_bars (n*k,), shifts (n*k,))``.
    """
    if not len(track) or not track.shifts:
        empty = np.zeros((0, track.windows.shape[1]), dtype=TOKEN_DTYPE)
        return empty, np.zeros(0, np.int32), np.zeros(0, np.int32)
    original = np.asarray(track.windows, dtype=TOKEN_DTYPE)
    count = len(original)
    is_pitch = original < FIRST_PITCH_TOKEN + NUM_PITCHES  # the same for every shift: found once
    pitch_token_range = _pitch_token_range(original, is_pitch)
    windows = np.empty((count * len(track.shifts), original.shape[1]), dtype=TOKEN_DTYPE)
    for index, semitones in enumerate(track.shifts):
        block = windows[index * count : (index + 1) * count]
        if semitones == 0:
            block[:] = original
        else:
            _check_shift(pitch_token_range, semitones)
            _shift_pitch_tokens(original, is_pitch, semitones, out=block)
    start_bars = np.tile(track.start_bars, len(track.shifts))
    shifts = np.repeat(np.asarray(track.shifts, dtype=np.int32), count)
    return windows, start_bars, shifts


def window_digests(windows: np.ndarray) -> np.ndarray:
    """A 64-bit digest per window (blake2b of its bytes, read little-endian): (n, 128) uint8 -> (n,) uint64."""
    windows = np.ascontiguousarray(windows, dtype=TOKEN_DTYPE)
    data, width = memoryview(windows.tobytes()), windows.shape[1]
    empty = hashlib.blake2b(digest_size=8)  # copying a fresh hash is cheaper than making one per row
    digests = []
    for row in range(len(windows)):
        digest = empty.copy()
        digest.update(data[row * width : (row + 1) * width])
        digests.append(digest.digest())
    return np.frombuffer(b"".join(digests), dtype="<u8").astype(np.uint64)


def seen_in_training(windows: np.ndarray, sorted_training_digests: np.ndarray) -> np.ndarray:
    """Which held-out windows equal a training window in any key the augmentation could produce.

    ``sorted_training_digests`` are the sorted digests of the training windows in their original
    key. A held-out window counts as seen when it, or one of its in-range transpositions by the
    inverse of a training shift, has one of those digests: that catches the same tune filed under
    two song identities (two collections, two versions) even when it is written in another key.
    Returns a boolean mask (n,).
    """
    windows = np.asarray(windows, dtype=TOKEN_DTYPE)
    seen = np.zeros(len(windows), dtype=bool)
    if not len(windows) or not len(sorted_training_digests):
        return seen
    is_pitch = windows < FIRST_PITCH_TOKEN + NUM_PITCHES
    pitch_tokens = np.where(is_pitch, windows.astype(np.int16), NUM_PITCHES)
    lowest = pitch_tokens.min(axis=1)  # NUM_PITCHES for a window without notes
    highest = np.where(is_pitch, windows.astype(np.int16), -1).max(axis=1)
    for training_shift in TRANSPOSITIONS_SEMITONES:
        back = -training_shift  # the training window in its original key is this window shifted back
        candidates = ~seen & (lowest + back >= 0) & (highest + back < NUM_PITCHES)
        if not candidates.any():
            continue
        index = np.flatnonzero(candidates)
        digests = window_digests(transpose_windows(windows[index], back))
        position = np.searchsorted(sorted_training_digests, digests)
        position = np.minimum(position, len(sorted_training_digests) - 1)
        seen[index[sorted_training_digests[position] == digests]] = True
    return seen


assert WINDOW_STEPS == timebase.window_steps(STEPS_PER_BAR)
assert FIRST_PITCH_TOKEN == 0  # pitch tokens are the lowest ids: uint8 shifts wrap them out of 0..29
