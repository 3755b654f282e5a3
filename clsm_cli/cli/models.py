"""``clsm models``: the models ``--model`` can name, shipped and user-trained.

One row per installed model: name, where it comes from, kind, preset, the data it was trained on,
the meters it covers, its size (parameters and bytes on disk) and its final validation figures;
a folder that cannot be loaded is listed with the reason. ``--json`` prints the same as one JSON list.
Never imports torch, so it answers at once.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer

from clsm_cli.cli.console import escape_markup, reports_errors, stderr_console, stdout_console

HELP = """\
List the installed models: the shipped ones and those you trained.

Models you train with clsm train ... --out NAME are listed under that name.

Without --model, infill, interpolate and vary use the model whose meters include the meter of
the bars being edited (the shipped one first, then yours by name); clsm show says which.
Give a name from this list, or a model directory, to --model to force one.

[bold]Examples[/bold]

  clsm models
  clsm models --json
"""

VALIDATION_FIGURES = ("loss", "reconstruction", "accuracy", "kl")  # shown in this order when present


def register(app: typer.Typer) -> None:
    app.command(name="models", help=HELP)(models)


@reports_errors
def models(
    json_output: bool = typer.Option(False, "--json", help="Print the list as JSON on stdout."),
) -> None:
    from clsm_cli import checkpoint

    installed = checkpoint.list_installed_models()
    default_name = _default_model_name()
    rows = [model_row(model, default_name) for model in installed]
    if json_output:
        typer.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        stderr_console().print(
            "No models are installed. Train one with clsm train clsm --data DIR --out NAME, "
            "or reinstall clsm to get the shipped model.",
            soft_wrap=True,
        )
        return
    _print_table(rows)


def model_row(model, default_name: Optional[str] = None) -> dict[str, Any]:
    """What ``clsm models`` shows about one installed model (JSON-ready)."""
    config = model.config
    metadata = model.metadata if isinstance(model.metadata, dict) else {}
    training = _training_record(metadata)
    weights = Path(model.directory) / "model.safetensors"
    return {
        "name": model.name,
        "default": model.name == default_name,
        "source": model.source,
        "kind": _kind_name(model),
        "preset": training.get("preset") or preset_of(config),
        "data": _data_text(training.get("data")),
        "meters": [f"{numerator}/{denominator}" for numerator, denominator in getattr(config, "meters", ())],
        "grid": getattr(config, "grid_encoding", None),  # "16th" or "triplet" (None: the config did not load)
        "parameters": metadata.get("parameter_count"),
        "bytes": weights.stat().st_size if weights.is_file() else None,
        "steps": training.get("steps"),
        "validation": {
            name: training.get("final_validation", {}).get(name)
            for name in VALIDATION_FIGURES
            if isinstance(training.get("final_validation"), dict) and name in training["final_validation"]
        },
        "decoding": {
            "temperature": getattr(config, "decoding_temperature", None),
            "top_p": getattr(config, "decoding_top_p", None),
        },
        "directory": str(model.directory),
        "problem": getattr(model, "problem", None),
    }


def _kind_name(model) -> str:
    """The registry's name of the model's kind (an ARNN trained on target sets is arnn-t)."""
    from clsm_cli.models.registry import kind_of_config

    return kind_of_config(model.config).name if model.config is not None else model.kind


def preset_of(config) -> Optional[str]:
    """The preset whose sizes ``config`` has (decoding aside), for models saved without a record."""
    from dataclasses import replace

    from clsm_cli.models.config import PRESETS

    if config is None:
        return None
    for preset, configs in PRESETS.items():
        for candidate in configs.values():
            same_kind = type(candidate) is type(config)
            if same_kind and replace(candidate, decoding_temperature=config.decoding_temperature,
                                     decoding_top_p=config.decoding_top_p) == config:
                return preset
    return None


def _training_record(metadata) -> dict:
    """The training record inside a model's metadata (the record itself for older layouts)."""
    if not isinstance(metadata, dict):
        return {}
    record = metadata.get("training", metadata)
    return record if isinstance(record, dict) else {}


def _data_text(data) -> Optional[str]:
    if data is None:
        return None
    if isinstance(data, str):
        return data
    if isinstance(data, dict):
        name = data.get("name") or (Path(str(data["directory"])).name if data.get("directory") else None)
        digest = data.get("manifest_hash")
        parts = [part for part in (name, f"manifest {str(digest)[:8]}" if digest else None) if part]
        return ", ".join(parts) or None
    return str(data)


def _default_model_name() -> str:
    from clsm_cli import checkpoint

    return checkpoint.DEFAULT_MODEL_NAME


def size_text(parameters: Optional[int], size_bytes: Optional[int]) -> str:
    """``"1.2 M params, 4.8 MB"``."""
    parts = []
    if parameters is not None:
        parts.append(f"{parameters / 1e6:.1f} M params" if parameters >= 100_000 else f"{parameters:,} params")
    if size_bytes is not None:
        parts.append(f"{size_bytes / 1e6:.1f} MB" if size_bytes >= 100_000 else f"{size_bytes / 1e3:.0f} kB")
    return ", ".join(parts) or "—"


VALIDATION_LABELS = {"loss": "loss", "reconstruction": "recon", "accuracy": "acc", "kl": "KL"}


def validation_text(validation: dict) -> str:
    """``"loss 0.615\nrecon 0.576\n…"``: one short figure per line, so the column stays narrow."""
    figures = [
        f"{VALIDATION_LABELS.get(name, name)} {value:.3g}"
        for name, value in validation.items()
        if isinstance(value, (int, float))
    ]
    return "\n".join(figures) or "—"


def _print_table(rows: list[dict]) -> None:
    from rich import box
    from rich.table import Table

    console = stdout_console()
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, collapse_padding=True)
    figures = {row["name"]: validation_text(row["validation"]) for row in rows}
    figure_width = max((len(line) for text in figures.values() for line in text.splitlines()), default=1)
    for column in ("name", "source", "kind", "preset", "data", "meters", "size"):
        table.add_column(column, overflow="fold", no_wrap=column == "name")
    table.add_column("validation", overflow="fold", min_width=figure_width + 1)  # a load error may wrap, figures not
    for row in rows:
        name = row["name"] + ("\n(default)" if row["default"] else "")
        table.add_row(
            escape_markup(name),
            row["source"] or "—",
            row["kind"] or "—",
            row["preset"] or "—",
            escape_markup(row["data"] or "—").replace(", manifest ", "\n").replace(", ", "\n"),
            "\n".join(row["meters"] + (["triplets"] if row["grid"] == "triplet" else [])) or "—",
            size_text(row["parameters"], row["bytes"]).replace(", ", "\n"),
            figures[row["name"]] if not row["problem"] else f"[red]cannot load: {escape_markup(row['problem'])}[/red]",
            style="bold" if row["default"] else None,
        )
    console.print(table)
