"""``clsm train MODEL --data DIR --out NAME``: train CLSM, its baselines or the evaluation LM.

The command parses and checks options, then calls ``clsm_cli.train.loop.train`` (all the work is
there) and prints where the model went and how it did. torch is imported only inside the command,
so ``clsm --help`` stays fast.
"""

from __future__ import annotations

import enum
import re
import sys
from pathlib import Path
from typing import Optional

import typer

from clsm_cli.cli.console import reports_errors, stdout_console
from clsm_cli.errors import UsageError
from clsm_cli.models.registry import KIND_NAMES
from clsm_cli.train.options import DEFAULT_CHECKPOINT_EVERY

HELP = """\
Train a model on a dataset built by `clsm data build`, with the paper's settings by default.

MODEL is [bold]clsm[/bold] (the contextual latent space model), [bold]vae[/bold], [bold]arnn[/bold] or [bold]arnn-t[/bold] (the paper's baselines; arnn-t is constrained only outside CLSM target sets), or [bold]lm[/bold] (the language model `clsm evaluate` scores samples with). Generators train on the train-1 split and validate on valid-1; the LM uses train-2 and valid-2.

Defaults follow the paper: batch 64, Adam (lr 5e-4, betas 0.9 / 0.999), 2 epochs, and a KL weight annealed linearly from 0 over 2 epochs to --beta 0.012 (clsm) or --gamma 0.4 (vae).

--meter 3/4 trains on the data folder's 3/4 windows (default 4/4, which covers 4/4 and 2/2); the model's grid (steps per bar, 8-bar window, 1-4 bar targets) follows the meter.

--out NAME saves into your clsm models folder, where `--model NAME` finds it; a path (anything with a slash) saves there instead. Checkpoints are written every --checkpoint-every steps, at least every 5 minutes, and whenever training stops (Ctrl-C or SIGTERM stops cleanly after the current step, saves, and exits 130 or 143); --resume continues exactly where it stopped, and --force starts a damaged or finished run in --out again (a run stopped before its first checkpoint starts again at step 0). A run whose weights stop being finite numbers stops with exit code 4 and saves nothing from its diverged steps. A JSONL log (train-log.jsonl) and a reproducibility record (reproducibility.json) sit beside the model.

Several GPUs or CPU processes: launch with torchrun; --batch-size stays the global batch.

[bold]Examples[/bold]

  clsm data build --corpus music21 --out data/folk
  clsm train clsm --data data/folk --out folk-clsm
  clsm train clsm --data data/folk --out folk-clsm --resume
  clsm train vae --data data/folk --out folk-vae --gamma 0.2 --preset paper
  clsm train clsm --data data/folk --out runs/try --time-limit 30m --device cpu
  clsm train clsm --data data/folk --out folk-waltz --meter 3/4
  torchrun --nproc_per_node 4 -m clsm_cli train clsm --data data/lmd --out lmd-clsm --preset paper
"""


ModelKind = enum.Enum("ModelKind", {name.replace("-", "_"): name for name in KIND_NAMES}, type=str)


class Preset(str, enum.Enum):
    paper = "paper"
    small = "small"
    tiny = "tiny"


class Device(str, enum.Enum):  # clsm_cli.device.DEVICE_CHOICES
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


class Precision(str, enum.Enum):
    auto = "auto"
    fp32 = "fp32"
    bf16 = "bf16"
    fp16 = "fp16"


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$", re.IGNORECASE)
_SECONDS_PER_UNIT = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str) -> float:
    """``"90"``, ``"90s"``, ``"30m"``, ``"1.5h"`` -> seconds; a UsageError otherwise."""
    match = _DURATION.match(text)
    if not match or float(match.group(1)) <= 0:
        raise UsageError(f"--time-limit must be a positive duration such as 600, 45m or 2h, got {text!r}")
    return float(match.group(1)) * _SECONDS_PER_UNIT[match.group(2).lower()]


def register(app: typer.Typer) -> None:
    app.command(name="train", help=HELP, no_args_is_help=True)(train)


@reports_errors
def train(
    model: ModelKind = typer.Argument(
        ..., metavar="MODEL", help="What to train: clsm, vae, arnn, arnn-t or lm.", show_default=False
    ),
    data: Path = typer.Option(..., "--data", "-d", metavar="DIR", help="Dataset folder from `clsm data build`.", show_default=False),
    out: str = typer.Option(
        ..., "--out", "-o", metavar="NAME|DIR", help="Model name (saved in your clsm models folder) or a folder path.",
        show_default=False,
    ),
    preset: Optional[Preset] = typer.Option(None, "--preset", "-p", help="Model size: paper, small or tiny. \\[default: small]"),
    beta: Optional[float] = typer.Option(None, "--beta", help="CLSM only: KL weight β. \\[default: 0.012]"),
    gamma: Optional[float] = typer.Option(None, "--gamma", help="VAE only: KL weight γ. \\[default: 0.4]"),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="Passes over the training split. \\[default: 2]"),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Windows per step, over all processes. \\[default: 64]"),
    lr: Optional[float] = typer.Option(None, "--lr", help="Adam learning rate. \\[default: 0.0005]"),
    anneal_epochs: Optional[float] = typer.Option(
        None, "--anneal-epochs", help="Epochs over which the KL weight grows from 0 (0 = full weight at once). \\[default: 2]"
    ),
    free_bits: Optional[float] = typer.Option(
        None, "--free-bits", help="clsm/vae: KL below this many nats per latent dimension is free. \\[default: 0, off]"
    ),
    seed: Optional[int] = typer.Option(None, "--seed", help="Seed of every random choice in the run. \\[default: 0]"),
    grad_clip: Optional[float] = typer.Option(None, "--grad-clip", help="Clip the gradient norm to this (0 = off). \\[default: 0]"),
    device: Device = typer.Option(Device.auto, "--device", help="Where to train: auto picks CUDA when present."),
    precision: Optional[Precision] = typer.Option(
        None, "--precision",
        help="auto: bf16 (else fp16) on CUDA, fp32 on the CPU. bf16 on the CPU is faster only with AMX. A resume keeps the run's. \\[default: auto]",
        show_default=False,
    ),
    resume: bool = typer.Option(False, "--resume", help="Continue the run saved in --out from its last checkpoint."),
    force: bool = typer.Option(
        False, "--force", help="Start the run in --out again at step 0 (a damaged checkpoint, or a finished model): removes what clsm train wrote there, nothing else."
    ),
    meter: str = typer.Option("4/4", "--meter", metavar="N/D", help="Meter group to train on (4/4 covers 4/4 and 2/2)."),
    checkpoint_every: int = typer.Option(
        DEFAULT_CHECKPOINT_EVERY, "--checkpoint-every", metavar="N", help="Write a training checkpoint every N steps."
    ),
    log_every: int = typer.Option(50, "--log-every", metavar="N", help="Write a train-log.jsonl line every N steps."),
    validate_every: int = typer.Option(0, "--validate-every", metavar="N", help="Also validate every N steps (0 = per epoch only)."),
    max_val_windows: int = typer.Option(4096, "--max-val-windows", metavar="N", help="Validate on a fixed subset of N windows (0 = all)."),
    max_steps: Optional[int] = typer.Option(None, "--max-steps", metavar="N", help="Stop after N optimizer steps in total."),
    time_limit: Optional[str] = typer.Option(
        None, "--time-limit", metavar="DURATION", help="Stop after this long (e.g. 600, 45m, 2h), with a checkpoint."
    ),
    workers: int = typer.Option(1, "--workers", metavar="N", help="Threads loading batches in the background (0 = none)."),
    init_from: Optional[str] = typer.Option(
        None, "--init-from", metavar="MODEL",
        help="Start from this model's weights (same kind and preset; name or folder) with a fresh optimizer at step 0.",
        show_default=False,
    ),
) -> None:
    from clsm_cli.engine.load import require_torch

    require_torch("clsm train")  # exit 4 in one sentence before anything imports torch
    from clsm_cli.cli.progress import RichProgress
    from clsm_cli.timebase import Meter, group_members
    from clsm_cli.train.loop import TrainOptions
    from clsm_cli.train.loop import train as run_training

    group = Meter.parse(meter).group  # UsageError (exit 2) for anything but N/D
    options = TrainOptions(
        kind=model.value,
        data_dir=data,
        out=out,
        preset=preset.value if preset is not None else None,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=lr,
        beta=beta,
        gamma=gamma,
        anneal_epochs=anneal_epochs,
        free_bits=free_bits,
        seed=seed,
        grad_clip=grad_clip,
        device=device.value,
        precision=precision.value if precision is not None else None,
        resume=resume,
        force=force,
        checkpoint_every=checkpoint_every,
        log_every=log_every,
        validate_every=validate_every,
        max_validation_windows=max_val_windows,
        max_steps=max_steps,
        time_limit_seconds=parse_duration(time_limit) if time_limit is not None else None,
        workers=workers,
        init_from=init_from,
        meter_group=str(group),
        meters=tuple(member.as_tuple() for member in group_members(group)),
        command=tuple(["clsm", *sys.argv[1:]]),
    )
    with RichProgress() as progress:
        result = run_training(options, progress=progress)
    if _is_main_process():
        _print_result(result, out, model.value)
    if result.stop_signal is not None:
        # Saved, but not finished: 128 + the signal (143 for SIGTERM, 130 for Ctrl-C), as a shell reports
        # a process the signal ended, so a scheduler can tell it from a finished run.
        raise typer.Exit(128 + result.stop_signal)


def _is_main_process() -> bool:
    import os

    return os.environ.get("RANK", "0") == "0"


def _print_result(result, out: str, kind: str) -> None:
    from rich.table import Table

    from clsm_cli.train.options import is_plain_model_name
    from clsm_cli.train.records import format_metrics

    console = stdout_console()
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold", no_wrap=True)
    table.add_column(no_wrap=True, overflow="ignore")  # paths stay whole, never cut to "…": they are for copying
    status = "finished" if result.completed else f"stopped ({result.stop_reason}); continue with --resume"
    table.add_row("model", str(result.model_directory))
    table.add_row("status", status)
    table.add_row("steps", f"{result.global_step:,} ({result.epochs_completed:.2f} epochs)")
    table.add_row("time", _format_seconds(result.wall_seconds))
    if result.train_metrics:
        table.add_row("train", format_metrics(result.train_metrics, ("loss", "reconstruction", "kl", "accuracy")))
    if result.validation_metrics:
        table.add_row("validation", format_metrics(result.validation_metrics))
    table.add_row("log", str(result.log_path))
    console.print(table, crop=False)
    if kind == "clsm" and result.completed:
        name = out if is_plain_model_name(out) else str(result.model_directory)
        console.print(f"Use it: clsm infill song.mid --bars 3-4 --model {name}")


def _format_seconds(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m {secs:02d}s" if hours else f"{minutes}m {secs:02d}s"
