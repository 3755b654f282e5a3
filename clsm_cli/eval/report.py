"""The evaluation's results as text: ``results.csv``, ``results.md``, ``quality.md`` and ``quality.json``.

Pure functions from result rows to strings; the command writes them (``run_record.write_outputs``)
and draws the on-screen tables.
"""

from __future__ import annotations

import csv
import io
from dataclasses import asdict
from typing import Any, Optional, Sequence

from clsm_cli.eval.results import RESULT_COLUMNS


def number_text(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, int):
        return str(value)
    return f"{value:.{digits}f}"


def results_csv(rows: Sequence) -> str:
    """Every column of every row; empty cells where a figure does not apply."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(RESULT_COLUMNS)
    for row in rows:
        values = asdict(row)
        writer.writerow(
            ["" if values[c] is None else (f"{values[c]:.6g}" if isinstance(values[c], float) else values[c])
             for c in RESULT_COLUMNS]
        )
    return buffer.getvalue()


MAIN_COLUMNS = (
    ("model", "model"), ("family", "family"), ("case", "case"), ("windows", "windows"), ("samples", "samples"),
    ("R(2)", "r2"), ("R(4)", "r4"), ("R(8)", "r8"), ("R(8) cases", "r8_cases"),
    ("NLL window", "nll_window"), ("NLL target", "nll_target"),
    ("recon (left-ctx)", "recon_left_contextual"), ("recon (case τ)", "recon_case"),
)
MELODY_COLUMNS = (
    ("model", "model"), ("case", "case"), ("repeated", "repeated_note_share"), ("distinct", "distinct_pitches"),
    ("range", "pitch_range_semitones"), ("onsets/bar", "onsets_per_bar"), ("1-2 st steps", "step_share"),
    ("jump in", "jump_in_semitones"), ("jump out", "jump_out_semitones"), ("well-formed", "well_formed_share"),
    ("pairwise", "pairwise_edit_ratio"),
)


def _markdown_table(rows: Sequence, columns) -> list[str]:
    lines = ["| " + " | ".join(title for title, _ in columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(
            value if isinstance(value := getattr(row, attribute), str) else number_text(value)
            for _, attribute in columns
        ) + " |")
    return lines


def results_markdown(rows: Sequence, header: Sequence[str]) -> str:
    lines = ["# clsm evaluate: results", "", *header, "", "## The paper's measures", ""]
    lines += _markdown_table(rows, MAIN_COLUMNS)
    lines += [
        "",
        "- R(J): interpolation edit-distance ratio (eq. 12) averaged over the series it does not exclude"
        " (R(8) cases says how many); lower is smoother. The J = 4 and J = 2 series are every 2nd and 4th"
        " point of the J = 8 series (same endpoints).",
        "- NLL: nats per token under the LM, of whole windows x_CL ⊕ x̃_T ⊕ x_CR (the paper's figure) and of"
        " the target positions only; CLSM and VAE samples are the 9 points of each J = 8 series, ARNN samples"
        " are 2 draws at temperature 1.0.",
        "- recon (left-ctx): posterior mean decoded by argmax, token accuracy on targets that end the window"
        " (one number per model, the x-axis of the paper's Fig. 3b); recon (case τ): the same on the drawn"
        " targets of that case.",
        "",
        "## Melody statistics of the samples",
        "",
    ]
    lines += _markdown_table(rows, MELODY_COLUMNS)
    lines += [
        "",
        "Repeated: share of consecutive note pairs on one pitch; distinct / range: pitches and semitone span"
        " per target; 1-2 st steps: share of intervals of 1 or 2 semitones; jumps: semitones from the last note"
        " before the target to its first, and from its last to the first after; pairwise: edit distance"
        " between two independent samples of a window over the target length (for CLSM and VAE the two"
        " interpolation endpoints).",
        "",
    ]
    return "\n".join(lines)


def quality_as_dict(result) -> dict:
    from clsm_cli.eval.melody_stats import stats_as_dict

    return {
        "model": result.model, "temperature": result.temperature, "top_p": result.top_p,
        "candidates": result.candidates, "windows": result.windows,
        "generated": stats_as_dict(result.generated), "real": stats_as_dict(result.real),
        "posterior_accuracy": result.posterior_accuracy, "prior_accuracy": result.prior_accuracy,
        "nll": {name: {"window": totals.window_per_token, "target": totals.target_per_token, "samples": totals.samples}
                for name, totals in result.nll.items()},
        "checks": [asdict(check) for check in result.checks],
        "passed": all(check.passed for check in result.checks),
        "seconds": result.seconds,
    }


def verdict_text(passed: Optional[bool]) -> str:
    return {True: "pass", False: "FAIL", None: "n/a"}[passed]


def quality_summary_lines(result) -> list[str]:
    lines = []
    if result.nll:
        nll = ", ".join(f"{name} {number_text(totals.window_per_token)} ({number_text(totals.target_per_token)} target)"
                        for name, totals in result.nll.items())
        lines.append(f"LM NLL per token, whole window (target only): {nll}")
    passed = sum(1 for check in result.checks if check.passed)
    lines.append(f"{passed} of {len(result.checks)} checks pass ({result.seconds:.0f} s)")
    return lines


def quality_markdown(result, header: Sequence[str]) -> str:
    lines = [f"# Melody quality of {result.model}", "", *header, "",
             f"Decoding: temperature {result.temperature:g}, top-p {result.top_p:g}; {result.candidates} infills"
             f" per window from independent prior samples; {result.windows} windows.", "",
             "| measure | generated | real / bound | requirement | verdict |", "|---|---|---|---|---|"]
    for check in result.checks:
        lines.append(f"| {check.name} | {number_text(check.generated)} | {number_text(check.reference)} | "
                     f"{check.requirement} | {verdict_text(check.passed)} |")
    if result.nll:
        lines += ["", "| samples | NLL window | NLL target | count |", "|---|---|---|---|"]
        for name, totals in result.nll.items():
            lines.append(f"| {name} | {number_text(totals.window_per_token)} | {number_text(totals.target_per_token)} | {totals.samples} |")
    lines += ["", *quality_summary_lines(result), ""]
    return "\n".join(lines)
