"""Melody statistics that tell a lively infill from a dull one (pure numpy, no torch).

The paper's metrics (R(J), LM NLL) do not catch a model that fills every gap with one repeated
note. These measures, from the shipped-model issue, compare generated targets with the real bars of
the same windows. Every figure is computed on a target *inside its window*, because the jumps into
and out of the target need the context. Definitions (a "note" is an onset, i.e. a pitch token; rests
and holds are skipped; only notes inside the target count unless said otherwise):

- repeated-note share: consecutive note pairs with the same pitch / all consecutive note pairs;
- distinct pitches per target, and pitch range (highest − lowest note, 0 without notes), averaged
  over targets;
- note onsets per bar: all onsets / all target bars;
- step share: intervals of 1 or 2 semitones / all intervals between consecutive notes (unisons
  included in the denominator);
- jump in: |first target note − last note before the target|; jump out: |first note after the
  target − last target note| (means over the targets where both notes exist);
- well-formed share: targets made only of music tokens (pitches 55..84, R, __). A leading ``__`` is a
  tie from whatever sounded before and is well-formed, except at the very start of a window, where
  nothing sounds before it;
- pairwise edit-distance ratio: mean edit distance between two candidates of one call, divided by
  the target length (how different the infills offered together are);
- in-key share: target notes whose pitch class lies in the scale of the tune around them / all
  target notes. The scale is the diatonic (major-scale-shaped) pitch-class set holding the most of
  the context's notes, so modal folk tunes (dorian, mixolydian) count as in key too; windows whose
  context has no notes are skipped.

Bars are bars of the windows' meter: callers pass its steps per bar (16 in 4/4, 12 in 3/4 and 6/8,
8 in 2/4).

Pooled figures (shares, onsets per bar) weight every note pair or bar equally across targets.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Sequence

import numpy as np

from clsm_cli.constants import HOLD_TOKEN, MIN_PITCH, NUM_MUSIC_TOKENS, NUM_PITCHES, STEPS_PER_BAR, STEPS_PER_QUARTER, TRIPLET_TOKEN
from clsm_cli.eval.metrics import edit_distances, mean_pairwise_edit_ratio


@dataclass(frozen=True)
class MelodyStats:
    """Summary figures for a set of targets (None where nothing could be measured)."""

    targets: int
    repeated_note_share: float | None
    distinct_pitches: float | None
    pitch_range_semitones: float | None
    onsets_per_bar: float | None
    step_share: float | None
    jump_in_semitones: float | None
    jump_out_semitones: float | None
    well_formed_share: float | None
    pairwise_edit_ratio: float | None
    in_key_share: float | None = None
    triplet_share: float | None = None  # new notes on triplet positions, in targets whose context has triplets
    triplet_windows: int = 0  # targets whose context has a triplet quarter (triplet grid only)


def triplet_position_counts(windows: np.ndarray, target_start: int, target_length: int) -> tuple[int, int, int]:
    """(target notes on triplet positions, target notes, windows) over the B windows (B, K) whose
    context (outside the target) holds a triplet quarter, on the triplet grid: a quarter is 4 tokens
    from the window's start, a triplet quarter's first token is ``3:`` and its 3 triplet steps follow."""
    windows = np.asarray(windows).astype(np.int64)
    batch, length = windows.shape
    quarters = windows.reshape(batch, length // STEPS_PER_QUARTER, STEPS_PER_QUARTER)  # (B, Q, 4)
    triplet_quarter = quarters[:, :, 0] == TRIPLET_TOKEN  # (B, Q)
    on_triplet = np.repeat(triplet_quarter, STEPS_PER_QUARTER, axis=1)  # (B, K): positions in triplet quarters
    positions = np.arange(length)
    in_target = (positions >= target_start) & (positions < target_start + target_length)  # (K,)
    context_has = (triplet_quarter & ~in_target[::STEPS_PER_QUARTER]).any(axis=1)  # (B,)
    notes = (windows < NUM_PITCHES) & in_target & context_has[:, None]
    return int((notes & on_triplet).sum()), int(notes.sum()), int(context_has.sum())


MAJOR_SCALE_PITCH_CLASSES = (0, 2, 4, 5, 7, 9, 11)
# (12, 12) bool: row r is the diatonic set whose major tonic is pitch class r.
DIATONIC_SETS = np.array([[(pitch_class - tonic) % 12 in MAJOR_SCALE_PITCH_CLASSES for pitch_class in range(12)]
                          for tonic in range(12)])


def in_key_counts(windows: np.ndarray, target_start: int, target_length: int) -> tuple[int, int]:
    """(target notes in the context's diatonic set, target notes counted) over B windows (B, K)."""
    windows = np.asarray(windows).astype(np.int64)
    is_note = (windows >= 0) & (windows < NUM_PITCHES)  # (B, K)
    pitch_class = (windows + MIN_PITCH) % 12
    in_target = np.zeros(windows.shape[1], dtype=bool)
    in_target[target_start : target_start + target_length] = True
    context_histogram = np.zeros((windows.shape[0], 12), dtype=np.int64)  # (B, 12) context onsets per pitch class
    rows, columns = np.nonzero(is_note & ~in_target)
    np.add.at(context_histogram, (rows, pitch_class[rows, columns]), 1)
    has_context = context_histogram.sum(axis=1) > 0
    fit = context_histogram @ DIATONIC_SETS.T.astype(np.int64)  # (B, 12) context notes inside each set
    scale = DIATONIC_SETS[fit.argmax(axis=1)]  # (B, 12): ties go to the lowest tonic
    target_notes = is_note & in_target & has_context[:, None]
    in_key = np.take_along_axis(scale, pitch_class, axis=1) & target_notes
    return int(in_key.sum()), int(target_notes.sum())


def _last_index_where(mask: np.ndarray) -> np.ndarray:
    """Per position, the index of the latest True at or before it (-1 if none). mask (B, L)."""
    positions = np.where(mask, np.arange(mask.shape[1]), -1)
    return np.maximum.accumulate(positions, axis=1) if mask.shape[1] else positions


def _take(values: np.ndarray, index: np.ndarray) -> np.ndarray:
    """values[row, index[row]] for each row (index clipped to 0; callers mask invalid rows)."""
    return np.take_along_axis(values, np.clip(index, 0, None)[:, None], axis=1)[:, 0]


@dataclass
class MelodyStatsTotals:
    """Running sums behind :class:`MelodyStats`; ``add`` takes a batch of windows with one τ."""

    targets: int = 0
    repeated_pairs: int = 0
    note_pairs: int = 0
    step_intervals: int = 0
    distinct_pitch_sum: int = 0
    pitch_range_sum: int = 0
    onsets: int = 0
    bars: float = 0.0
    jump_in_sum: int = 0
    jump_in_count: int = 0
    jump_out_sum: int = 0
    jump_out_count: int = 0
    well_formed: int = 0
    pairwise_sum: float = 0.0
    pairwise_calls: int = 0
    in_key_notes: int = 0
    key_counted_notes: int = 0
    triplet_notes: int = 0
    triplet_counted_notes: int = 0
    triplet_windows: int = 0

    def add(self, windows: np.ndarray, target_start: int, target_length: int, steps_per_bar: int = STEPS_PER_BAR) -> None:
        """Add B windows (B, K) whose targets (already spliced in) are ``target_start .. + length``."""
        windows = np.asarray(windows).astype(np.int64)
        if windows.ndim != 2:
            raise ValueError(f"need a (B, K) batch of windows, got shape {windows.shape}")
        target_end = target_start + target_length
        target = windows[:, target_start:target_end]  # (B, L)
        left = windows[:, :target_start]
        right = windows[:, target_end:]
        num_targets = windows.shape[0]
        self.targets += num_targets

        quarter_start = (np.arange(target_start, target_end) % STEPS_PER_QUARTER) == 0  # (L,)
        marker = (target == TRIPLET_TOKEN) & quarter_start  # the triplet grid's 3: opens a quarter
        valid_tokens = (((target >= 0) & (target < NUM_MUSIC_TOKENS)) | marker).all(axis=1)
        if target_start == 0 and target_length:
            valid_tokens &= target[:, 0] != HOLD_TOKEN  # nothing before the window to tie from
        self.well_formed += int(valid_tokens.sum())

        is_note = (target >= 0) & (target < NUM_PITCHES)  # (B, L)
        pitch = target + MIN_PITCH  # meaningful only where is_note
        # Consecutive note pairs: each note with the latest note before it in the target.
        latest = _last_index_where(is_note)  # (B, L)
        previous = np.concatenate([np.full((num_targets, 1), -1), latest[:, :-1]], axis=1)
        has_previous = is_note & (previous >= 0)
        previous_pitch = np.take_along_axis(pitch, np.clip(previous, 0, None), axis=1)
        interval = np.abs(pitch - previous_pitch)
        self.note_pairs += int(has_previous.sum())
        self.repeated_pairs += int((has_previous & (interval == 0)).sum())
        self.step_intervals += int((has_previous & (interval >= 1) & (interval <= 2)).sum())

        present = (target[:, :, None] == np.arange(NUM_PITCHES)) & is_note[:, :, None]  # (B, L, 30)
        self.distinct_pitch_sum += int(present.any(axis=1).sum())
        has_notes = is_note.any(axis=1)
        highest = np.where(is_note, pitch, -1).max(axis=1, initial=-1)
        lowest = np.where(is_note, pitch, 10_000).min(axis=1, initial=10_000)
        self.pitch_range_sum += int(np.where(has_notes, highest - lowest, 0).sum())
        self.onsets += int(is_note.sum())
        self.bars += num_targets * target_length / steps_per_bar
        in_key, counted = in_key_counts(windows, target_start, target_length)
        self.in_key_notes += in_key
        self.key_counted_notes += counted
        if (windows == TRIPLET_TOKEN).any():
            on_triplets, notes, with_triplets = triplet_position_counts(windows, target_start, target_length)
            self.triplet_notes += on_triplets
            self.triplet_counted_notes += notes
            self.triplet_windows += with_triplets

        first_target_note = _take(pitch, np.argmax(is_note, axis=1))
        last_target_note = _take(pitch, target_length - 1 - np.argmax(is_note[:, ::-1], axis=1))
        left_is_note = (left >= 0) & (left < NUM_PITCHES)
        if left.shape[1]:
            has_before = left_is_note.any(axis=1) & has_notes
            before = _take(left + MIN_PITCH, left.shape[1] - 1 - np.argmax(left_is_note[:, ::-1], axis=1))
            self.jump_in_sum += int(np.abs(first_target_note - before)[has_before].sum())
            self.jump_in_count += int(has_before.sum())
        right_is_note = (right >= 0) & (right < NUM_PITCHES)
        if right.shape[1]:
            has_after = right_is_note.any(axis=1) & has_notes
            after = _take(right + MIN_PITCH, np.argmax(right_is_note, axis=1))
            self.jump_out_sum += int(np.abs(after - last_target_note)[has_after].sum())
            self.jump_out_count += int(has_after.sum())

    def add_candidates(self, candidates: np.ndarray) -> None:
        """Add the (n, L) candidate targets of one call to the pairwise-difference figure."""
        ratio = mean_pairwise_edit_ratio(candidates)
        if ratio is not None:
            self.pairwise_sum += ratio
            self.pairwise_calls += 1

    def add_candidate_sets(self, candidate_sets: np.ndarray) -> None:
        """Add B calls at once: (B, n, L) candidates, all pairs of each call in one vectorised pass."""
        candidate_sets = np.asarray(candidate_sets)
        num_calls, count, length = candidate_sets.shape
        if count < 2 or length == 0 or num_calls == 0:
            return
        first, second = np.triu_indices(count, k=1)
        distances = edit_distances(
            candidate_sets[:, first].reshape(-1, length), candidate_sets[:, second].reshape(-1, length)
        ).reshape(num_calls, len(first))
        self.pairwise_sum += float((distances.mean(axis=1) / length).sum())
        self.pairwise_calls += num_calls

    def merge(self, other: "MelodyStatsTotals") -> "MelodyStatsTotals":
        return MelodyStatsTotals(
            **{field.name: getattr(self, field.name) + getattr(other, field.name) for field in fields(self)}
        )

    def stats(self) -> MelodyStats:
        def ratio(numerator: float, denominator: float) -> float | None:
            return float(numerator) / float(denominator) if denominator else None

        return MelodyStats(
            targets=self.targets,
            repeated_note_share=ratio(self.repeated_pairs, self.note_pairs),
            distinct_pitches=ratio(self.distinct_pitch_sum, self.targets),
            pitch_range_semitones=ratio(self.pitch_range_sum, self.targets),
            onsets_per_bar=ratio(self.onsets, self.bars),
            step_share=ratio(self.step_intervals, self.note_pairs),
            jump_in_semitones=ratio(self.jump_in_sum, self.jump_in_count),
            jump_out_semitones=ratio(self.jump_out_sum, self.jump_out_count),
            well_formed_share=ratio(self.well_formed, self.targets),
            pairwise_edit_ratio=ratio(self.pairwise_sum, self.pairwise_calls),
            in_key_share=ratio(self.in_key_notes, self.key_counted_notes),
            triplet_share=ratio(self.triplet_notes, self.triplet_counted_notes),
            triplet_windows=self.triplet_windows,
        )


def melody_stats(windows: np.ndarray, target_start: int, target_length: int, steps_per_bar: int = STEPS_PER_BAR) -> MelodyStats:
    """Statistics of the targets of B windows (B, K) sharing one target position."""
    totals = MelodyStatsTotals()
    totals.add(windows, target_start, target_length, steps_per_bar)
    return totals.stats()


# --- the shipped-model quality bar ------------------------------------------------------------------


@dataclass(frozen=True)
class QualityCheck:
    """One of the shipped model's quality criteria, measured."""

    name: str
    generated: float | None
    reference: float | None
    requirement: str
    passed: bool | None  # None when a figure is missing


def _check(name: str, generated: float | None, reference: float | None, requirement: str, rule) -> QualityCheck:
    if generated is None or reference is None:
        return QualityCheck(name, generated, reference, requirement, None)
    return QualityCheck(name, generated, reference, requirement, bool(rule(generated, reference)))


def quality_checks(
    generated: MelodyStats,
    real: MelodyStats,
    posterior_accuracy: float | None,
    prior_accuracy: float | None,
) -> list[QualityCheck]:
    """The non-degeneracy criteria of the shipped-model issue, generated vs the real bars."""
    return [
        _check("repeated-note share", generated.repeated_note_share, real.repeated_note_share,
               "<= real + 0.05", lambda g, r: g <= r + 0.05),
        _check("distinct pitches per target", generated.distinct_pitches, real.distinct_pitches,
               ">= 90% of real", lambda g, r: g >= 0.90 * r),
        _check("pitch range (semitones)", generated.pitch_range_semitones, real.pitch_range_semitones,
               ">= 90% of real", lambda g, r: g >= 0.90 * r),
        _check("note onsets per bar", generated.onsets_per_bar, real.onsets_per_bar,
               "within ±20% of real", lambda g, r: abs(g - r) <= 0.2 * r),
        _check("1-2 semitone step share", generated.step_share, real.step_share,
               "within 0.08 of real", lambda g, r: abs(g - r) <= 0.08),
        _check("jump into target (semitones)", generated.jump_in_semitones, real.jump_in_semitones,
               "<= real + 1", lambda g, r: g <= r + 1.0),
        _check("jump out of target (semitones)", generated.jump_out_semitones, real.jump_out_semitones,
               "<= real + 1", lambda g, r: g <= r + 1.0),
        _check("well-formed share", generated.well_formed_share, 0.99, ">= 0.99", lambda g, r: g >= r),
        _check("pairwise edit-distance ratio", generated.pairwise_edit_ratio, 0.25, ">= 0.25",
               lambda g, r: g >= r),
        _check("in key (new notes in the tune's scale)", generated.in_key_share, 0.85, ">= 0.85",
               lambda g, r: g >= r),
        _check("reconstruction: posterior mean vs prior mean", posterior_accuracy, prior_accuracy,
               ">= prior + 0.05", lambda g, r: g >= r + 0.05),
    ]


MIN_TRIPLET_WINDOWS = 50  # test windows whose context has triplets the triplet check needs


def triplet_check(generated: MelodyStats, real: MelodyStats) -> QualityCheck:
    """The triplet grid's check: in test windows whose context has triplets (at least
    ``MIN_TRIPLET_WINDOWS``), the share of new notes on triplet positions is 0.5x to 2x the real
    target bars' share; it fails when the real share is 0 or too few windows have triplets."""
    name = f"new notes on triplet positions ({real.triplet_windows} windows with triplets)"
    if real.triplet_windows < MIN_TRIPLET_WINDOWS or not real.triplet_share:
        return QualityCheck(name, generated.triplet_share, real.triplet_share,
                            f">= {MIN_TRIPLET_WINDOWS} windows, real share > 0, 0.5x-2x real", False)
    return _check(name, generated.triplet_share, real.triplet_share, "0.5x-2x real",
                  lambda g, r: 0.5 * r <= g <= 2.0 * r)


def stats_as_dict(stats: MelodyStats) -> dict[str, float | int | None]:
    return {field.name: getattr(stats, field.name) for field in fields(stats)}


def pairwise_ratios(candidate_sets: Sequence[np.ndarray]) -> float | None:
    """Mean over calls of :func:`mean_pairwise_edit_ratio` (calls with < 2 candidates skipped)."""
    totals = MelodyStatsTotals()
    for candidates in candidate_sets:
        totals.add_candidates(candidates)
    return totals.stats().pairwise_edit_ratio
