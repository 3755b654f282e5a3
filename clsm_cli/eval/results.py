"""One row of the results table per model (or reference) and case, and the sums it is made from."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Optional

from clsm_cli.eval.melody_stats import MelodyStats, MelodyStatsTotals
from clsm_cli.eval.metrics import INTERPOLATION_DIVISIONS, AccuracyTotals, NllTotals, mean_of_included

# Reference rows beside the models: the real target, the bars before it copied in, random pitches.
DATA, COPY, RANDOM = "Data", "Copy", "Random"
REFERENCE_FAMILIES = (DATA, COPY, RANDOM)


@dataclass
class RowTotals:
    """What one row (model × case) accumulates over the τ groups."""

    windows: int = 0
    ratios: dict[int, list[float]] = field(default_factory=lambda: {j: [] for j in INTERPOLATION_DIVISIONS})
    nll: NllTotals = field(default_factory=NllTotals)
    melody: MelodyStatsTotals = field(default_factory=MelodyStatsTotals)
    reconstruction: AccuracyTotals = field(default_factory=AccuracyTotals)


@dataclass(frozen=True)
class ResultRow:
    """One row of the results table: a model (or reference) in one of the two cases."""

    model: str
    family: str
    case: str
    windows: int  # test windows in this case
    samples: int  # generated windows scored by the LM
    r2: Optional[float]
    r4: Optional[float]
    r8: Optional[float]
    r2_cases: int  # interpolation series kept by eq. 12's exclusions
    r4_cases: int
    r8_cases: int
    nll_window: Optional[float]  # nats per token of x_CL ⊕ x̃_T ⊕ x_CR under the LM
    nll_target: Optional[float]  # nats per token of the target positions only
    recon_left_contextual: Optional[float]  # one per model: targets that end the window
    recon_case: Optional[float]  # posterior-mean reconstruction on this case's drawn τ
    pairwise_edit_ratio: Optional[float]  # two independent samples of one window differ by this share
    repeated_note_share: Optional[float]
    distinct_pitches: Optional[float]
    pitch_range_semitones: Optional[float]
    onsets_per_bar: Optional[float]
    step_share: Optional[float]
    jump_in_semitones: Optional[float]
    jump_out_semitones: Optional[float]
    well_formed_share: Optional[float]

    def ratio(self, divisions: int) -> Optional[float]:
        return {2: self.r2, 4: self.r4, 8: self.r8}[divisions]


RESULT_COLUMNS = tuple(f.name for f in fields(ResultRow))
# The melody statistics a row carries, by the names ResultRow and MelodyStats share.
MELODY_COLUMNS = RESULT_COLUMNS[RESULT_COLUMNS.index("pairwise_edit_ratio") :]


@dataclass(frozen=True)
class EvaluationResult:
    rows: list[ResultRow]
    windows: int
    seed: int
    seconds: dict[str, float]  # wall time per model name (and "references")

    def row(self, model: str, case: str) -> ResultRow:
        for row in self.rows:
            if row.model == model and row.case == case:
                return row
        raise KeyError((model, case))


def make_row(name: str, family: str, case: str, totals: RowTotals, recon_left: Optional[float]) -> ResultRow:
    ratios = {j: mean_of_included(values) for j, values in totals.ratios.items()}
    melody: MelodyStats = totals.melody.stats()
    return ResultRow(
        model=name,
        family=family,
        case=case,
        windows=totals.windows,
        samples=totals.nll.samples,
        r2=ratios[2][0],
        r4=ratios[4][0],
        r8=ratios[8][0],
        r2_cases=ratios[2][1],
        r4_cases=ratios[4][1],
        r8_cases=ratios[8][1],
        nll_window=totals.nll.window_per_token,
        nll_target=totals.nll.target_per_token,
        recon_left_contextual=recon_left,
        recon_case=totals.reconstruction.accuracy,
        **{column: getattr(melody, column) for column in MELODY_COLUMNS},
    )
