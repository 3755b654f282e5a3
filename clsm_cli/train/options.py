"""What ``clsm train`` accepts, its defaults, the checks on it, and the result it gives back.

Settings resolve in one order: an explicit option, else the resumed run's value, else the default.
Settings in ``LOCKED_SETTINGS`` define the run: a resume that changes one would train another run,
so it is refused with the flag to drop.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from clsm_cli.errors import UsageError
from clsm_cli.models.registry import ModelKind, model_kind

DEFAULT_PRESET = "small"
DEFAULT_EPOCHS = 2
DEFAULT_BATCH_SIZE = 64
DEFAULT_LEARNING_RATE = 5e-4
DEFAULT_ANNEAL_EPOCHS = 2.0
DEFAULT_SEED = 0
DEFAULT_CHECKPOINT_EVERY = 200  # steps; a small model on a CPU does a few per second
CHECKPOINT_INTERVAL_SECONDS = 300.0  # and at least this often, so a kill loses minutes, not an hour
DEFAULT_LOG_EVERY = 50
DEFAULT_MAX_VALIDATION_WINDOWS = 4096
DEFAULT_METER_GROUP = "4/4"  # 4/4 and 2/2, the paper's data

# Settings a resumed run must share with the run it continues (else it would be another run).
LOCKED_SETTINGS = (
    "preset", "batch_size", "learning_rate", "kl_weight", "anneal_epochs", "free_bits", "seed", "grad_clip", "meter_group",
    "precision",
)

_PLAIN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class TrainOptions:
    """Everything ``clsm train`` accepts. ``None`` means the default, or the resumed run's value."""

    kind: str  # clsm, vae, arnn, arnn-t or lm
    data_dir: Path
    out: str  # a plain name (user models dir) or a path
    preset: Optional[str] = None  # paper, small (default) or tiny
    epochs: Optional[int] = None  # 2
    batch_size: Optional[int] = None  # 64, the global batch over all processes
    learning_rate: Optional[float] = None  # 5e-4
    beta: Optional[float] = None  # CLSM's KL weight, 0.012
    gamma: Optional[float] = None  # the VAE's KL weight, 0.4
    anneal_epochs: Optional[float] = None  # 2.0 epochs of linear KL warm-up
    free_bits: Optional[float] = None  # nats per latent dimension, 0 = off
    seed: Optional[int] = None  # 0
    grad_clip: Optional[float] = None  # max gradient norm, 0 = no clipping (the paper's setting)
    device: str = "auto"
    precision: Optional[str] = None  # auto (CUDA: bf16 if supported, else fp16; CPU: fp32), fp32, bf16, fp16
    resume: bool = False
    force: bool = False  # start the --out folder again at step 0, clearing the clsm run in it
    checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY
    checkpoint_seconds: float = CHECKPOINT_INTERVAL_SECONDS  # also checkpoint after this much training time
    log_every: int = DEFAULT_LOG_EVERY
    validate_every: int = 0  # extra validations every N steps; 0 = once per epoch only
    max_validation_windows: int = DEFAULT_MAX_VALIDATION_WINDOWS  # 0 = the whole validation split
    max_steps: Optional[int] = None  # stop after this many optimizer steps in total
    time_limit_seconds: Optional[float] = None  # stop (with a checkpoint) after this long
    workers: int = 1  # background threads that load batches; 0 loads in the training thread
    init_from: Optional[str] = None  # start from this saved model's weights (fresh optimizer and step 0)
    # The meter group to train on ("4/4" covers 4/4 and 2/2) and the meters the model will know.
    meter_group: Optional[str] = None
    meters: Optional[tuple[tuple[int, int], ...]] = None
    command: tuple[str, ...] = ()  # the command line, for the reproducibility record


@dataclass
class TrainResult:
    model_directory: Path
    global_step: int
    epochs_completed: float
    completed: bool  # all epochs done (False when stopped by --max-steps, --time-limit or Ctrl-C)
    stop_reason: str
    wall_seconds: float  # over all resumed sessions
    train_metrics: dict[str, float] = field(default_factory=dict)
    validation_metrics: dict[str, float] = field(default_factory=dict)
    log_path: Optional[Path] = None
    stop_signal: Optional[int] = None  # SIGINT or SIGTERM when a signal stopped the run


def is_plain_model_name(out: str) -> bool:
    """``folk-clsm`` is a model name; ``runs/try``, ``./x`` or ``~/m`` are paths."""
    return bool(_PLAIN_NAME.match(out)) and out not in (".", "..")


def resolve_output_dir(out: str) -> Path:
    """A plain name goes to the user models directory (where ``--model NAME`` looks); else a path."""
    if is_plain_model_name(out):
        from clsm_cli.checkpoint import user_model_dir

        return user_model_dir(out)
    return Path(out).expanduser()


def check_options(options: TrainOptions) -> ModelKind:
    """UsageError (exit 2) for options that contradict each other or are out of range; the kind."""
    kind = model_kind(options.kind)
    if options.beta is not None and kind.kl_option != "--beta":
        raise UsageError(f"--beta is the CLSM's KL weight; for {kind.name} leave it out (the VAE's is --gamma)")
    if options.gamma is not None and kind.kl_option != "--gamma":
        raise UsageError(f"--gamma is the VAE's KL weight; for {kind.name} leave it out (CLSM's is --beta)")
    if options.free_bits is not None and not kind.has_latent:
        raise UsageError(f"--free-bits applies to latent models (clsm, vae), not {kind.name}")
    if options.force and options.resume:
        raise UsageError("--force starts the run in --out again at step 0 and --resume continues it; use one or the other")
    if options.init_from is not None and options.resume:
        raise UsageError("--init-from starts a new run; --resume continues one from its own checkpoint, so use one or the other")
    positive = {
        "--epochs": options.epochs,
        "--batch-size": options.batch_size,
        "--lr": options.learning_rate,
        "--checkpoint-every": options.checkpoint_every,
        "--log-every": options.log_every,
        "--max-steps": options.max_steps,
        "--time-limit": options.time_limit_seconds,
    }
    for flag, value in positive.items():
        if value is not None and not value > 0:
            raise UsageError(f"{flag} must be greater than 0, got {value}")
    non_negative = {
        "--beta": options.beta,
        "--gamma": options.gamma,
        "--anneal-epochs": options.anneal_epochs,
        "--free-bits": options.free_bits,
        "--grad-clip": options.grad_clip,
        "--validate-every": options.validate_every,
        "--max-val-windows": options.max_validation_windows,
        "--workers": options.workers,
        "--seed": options.seed,
    }
    for flag, value in non_negative.items():
        if value is not None and value < 0:
            raise UsageError(f"{flag} must not be negative, got {value}")
    return kind


def resolve_settings(options: TrainOptions, kind: ModelKind, saved: Optional[dict], out_dir: Path) -> dict[str, Any]:
    """This run's settings: explicit options, else the resumed run's (``saved``), else the defaults."""
    kl_option = {"--beta": options.beta, "--gamma": options.gamma}.get(kind.kl_option)
    explicit = {
        "preset": options.preset,
        "batch_size": options.batch_size,
        "learning_rate": options.learning_rate,
        "kl_weight": kl_option,
        "anneal_epochs": options.anneal_epochs,
        "free_bits": options.free_bits,
        "seed": options.seed,
        "grad_clip": options.grad_clip,
        "epochs": options.epochs,
        "meter_group": options.meter_group,
        "precision": options.precision,
    }
    defaults = {
        "preset": DEFAULT_PRESET,
        "batch_size": DEFAULT_BATCH_SIZE,
        "learning_rate": DEFAULT_LEARNING_RATE,
        "kl_weight": kind.default_kl_weight,
        "anneal_epochs": DEFAULT_ANNEAL_EPOCHS,
        "free_bits": 0.0,
        "seed": DEFAULT_SEED,
        "grad_clip": 0.0,
        "epochs": DEFAULT_EPOCHS,
        "meter_group": DEFAULT_METER_GROUP,
        "precision": "auto",
    }
    settings = {}
    for name, value in explicit.items():
        if saved is not None and name in saved:
            if value is not None and name in LOCKED_SETTINGS and value != saved[name]:
                raise UsageError(
                    f"{flag_for(name, kind)} {value} differs from the {saved[name]} that the run in {out_dir} "
                    "was started with; resume without it, or train a new model with another --out"
                )
            settings[name] = saved[name] if value is None else value
        else:
            settings[name] = defaults[name] if value is None else value
    return settings


def flag_for(setting: str, kind: ModelKind) -> str:
    names = {
        "preset": "--preset",
        "batch_size": "--batch-size",
        "learning_rate": "--lr",
        "kl_weight": kind.kl_option or "--beta",
        "anneal_epochs": "--anneal-epochs",
        "free_bits": "--free-bits",
        "seed": "--seed",
        "grad_clip": "--grad-clip",
        "epochs": "--epochs",
        "meter_group": "--meter",
        "precision": "--precision",
    }
    return names[setting]
