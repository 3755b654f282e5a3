"""The paper's Fig. 3b as PNG files (matplotlib, the optional ``clsm-cli[eval]`` extra).

Two figures, each with one panel per case ("left context only", "otherwise"); the y-axis of both is
the left-contextual reconstruction accuracy, so a point further up and to the left is better:

- ``smoothness.png``: R(J) on the x-axis for CLSM and VAE models, one point per J; as in the paper,
  small, medium and large markers are J = 8, 4, 2.
- ``nll.png``: LM NLL per token of whole windows on the x-axis. Models with a latent (CLSM, VAE) are
  points; those without a reconstruction accuracy (ARNN, ARNN_T, Data and the Copy / Random
  references) are vertical lines at their NLL.

The functions take result rows (:class:`clsm_cli.eval.harness.ResultRow`) and write files; nothing
here runs a model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from clsm_cli.atomic import atomic_write
from clsm_cli.errors import OutputError, UsageError
from clsm_cli.eval.metrics import CASES, INTERPOLATION_DIVISIONS

MARKER_AREA_BY_DIVISIONS = {8: 18, 4: 55, 2: 130}  # small J = 8 ... large J = 2, as the paper draws them
FAMILY_COLOURS = {
    "CLSM": "tab:blue",
    "VAE": "tab:orange",
    "ARNN": "tab:green",
    "ARNN_T": "tab:olive",
    "Data": "black",
    "Copy": "tab:gray",
    "Random": "tab:red",
}
LINE_STYLES = {"ARNN": "--", "ARNN_T": "-.", "Data": "-", "Copy": ":", "Random": ":"}
PLOT_FILES = ("smoothness.png", "nll.png")


def require_matplotlib():
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only, never a window
        import matplotlib.pyplot as pyplot
    except ImportError:
        raise UsageError(
            "the plots need matplotlib: install it with pip install 'clsm-cli[eval]', or pass --no-plots"
        ) from None
    return pyplot


def write_plots(rows: Sequence, out_dir: Path, title: str = "") -> list[Path]:
    """Write ``smoothness.png`` and ``nll.png`` into ``out_dir``; returns their paths."""
    pyplot = require_matplotlib()
    out_dir = Path(out_dir)
    paths = [out_dir / name for name in PLOT_FILES]
    for path, draw in zip(paths, (_draw_smoothness, _draw_nll)):
        figure, axes = pyplot.subplots(1, len(CASES), figsize=(11, 4.6), sharey=True, squeeze=False)
        for axis, case in zip(axes[0], CASES):
            draw(axis, [row for row in rows if row.case == case])
            axis.set_title(case)
            axis.grid(True, alpha=0.3)
        axes[0][0].set_ylabel("left-contextual reconstruction accuracy")
        if title:
            figure.suptitle(title, fontsize=10)
        figure.tight_layout()
        try:
            atomic_write(path, lambda temporary: figure.savefig(temporary, dpi=120, format="png"))
        except OSError as error:
            raise OutputError(f"cannot write {path}: {error.strerror or error}") from None
        finally:
            pyplot.close(figure)
    return paths


def _latent_rows(rows: Sequence) -> list:
    return [row for row in rows if row.recon_left_contextual is not None]


def _draw_smoothness(axis, rows: Sequence) -> None:
    plotted_families = set()
    for row in _latent_rows(rows):
        colour = FAMILY_COLOURS.get(row.family, "tab:purple")
        for divisions in INTERPOLATION_DIVISIONS:
            ratio = row.ratio(divisions)
            if ratio is None:
                continue
            label = row.family if row.family not in plotted_families else None
            plotted_families.add(row.family)
            axis.scatter(ratio, row.recon_left_contextual, s=MARKER_AREA_BY_DIVISIONS[divisions], c=colour,
                         alpha=0.75, edgecolors="none", label=label)
        if row.r8 is not None:
            axis.annotate(row.model, (row.r8, row.recon_left_contextual), fontsize=6, xytext=(3, 3),
                          textcoords="offset points")
    for divisions in INTERPOLATION_DIVISIONS:  # legend entries for the marker sizes
        axis.scatter([], [], s=MARKER_AREA_BY_DIVISIONS[divisions], c="lightgray", label=f"J = {divisions}")
    axis.set_xlabel("interpolation edit-distance ratio R(J) (lower is smoother)")
    axis.legend(fontsize=7, loc="best")


def _draw_nll(axis, rows: Sequence) -> None:
    plotted_families = set()
    for row in rows:
        if row.nll_window is None:
            continue
        colour = FAMILY_COLOURS.get(row.family, "tab:purple")
        if row.recon_left_contextual is not None:
            label = row.family if row.family not in plotted_families else None
            plotted_families.add(row.family)
            axis.scatter(row.nll_window, row.recon_left_contextual, s=40, c=colour, alpha=0.8, edgecolors="none",
                         label=label)
            axis.annotate(row.model, (row.nll_window, row.recon_left_contextual), fontsize=6, xytext=(3, 3),
                          textcoords="offset points")
        else:
            label = row.model if row.model == row.family else f"{row.model} ({row.family})"
            axis.axvline(row.nll_window, color=colour, linestyle=LINE_STYLES.get(row.family, "--"), linewidth=1.2,
                         label=label)
    axis.set_xlabel("LM NLL per token, whole window (nats; lower is better)")
    axis.legend(fontsize=7, loc="best")
