"""The training loop behind ``clsm train``: the same loop for CLSM, the VAE, both ARNNs and the LM.

What a run does (paper section 3.4 for the defaults):

1. reads the data manifest and the splits (train-1/valid-1 for the generators, train-2/valid-2 for
   the LM), builds the model from a preset (seeded), and an Adam optimizer (lr 5e-4, 0.9/0.999);
2. each epoch visits the training windows in an order that depends only on (seed, epoch), in
   batches of 64 (the last incomplete batch is dropped); the per-kind ``Objective`` turns a batch
   into a loss (τ sampled once per batch, KL annealed linearly over 2 epochs);
3. logs a JSONL line every ``log_every`` steps and per validation, validates at the end of every
   epoch (and every ``validate_every`` steps if asked), shows rich progress on stderr;
4. writes an atomic training checkpoint (``state.py``) every ``checkpoint_every`` steps and when it
   stops, so ``--resume`` continues bit for bit: the data position is (epoch, step in epoch), and
   every generator's state is saved;
5. saves the finished model with ``checkpoint.save_model`` (where ``--model NAME`` finds it) with a
   training record, and writes ``reproducibility.json`` beside it.

Randomness has separate, seeded streams: model initialisation, the batch order, the batch
conditions (τ, ARNN masks), the latent models' reparameterisation noise (these two shared by all
ranks, see ``objectives.py``) and dropout (one stream per rank). Validation draws from fixed seeds
inside ``torch.random.fork_rng``, so it never disturbs training.

Under ``torchrun`` every rank computes the same global batch order, conditions and noise and trains
on its own equal slice; DistributedDataParallel averages gradients (gloo on CPU, NCCL on CUDA). So
N processes train exactly like one process on the same global batch (up to float rounding), as long
as the model has no dropout: dropout masks are drawn per rank.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import platform
import re
import signal
import subprocess
import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch

from clsm_cli import __version__
from clsm_cli.errors import InputFileError, OutputError, UsageError
from clsm_cli.train import state as training_state
from clsm_cli.train.distributed import (
    Runtime,
    all_gather_objects,
    all_reduce_sum,
    barrier,
    broadcast_object,
    rank_rows,
    start_runtime,
    stop_runtime,
)
from clsm_cli.train.objectives import (
    DEFAULT_ANNEAL_EPOCHS,
    DEFAULT_BETA,
    DEFAULT_GAMMA,
    MODEL_KINDS,
    VALIDATION_SEED,
    BatchConditions,
    MetricSums,
    Objective,
    ObjectiveSettings,
    anneal_steps_for,
)

LOG_FILE_NAME = "train-log.jsonl"
REPRODUCIBILITY_FILE_NAME = "reproducibility.json"
DEFAULT_PRESET = "small"
DEFAULT_EPOCHS = 2
DEFAULT_BATCH_SIZE = 64
DEFAULT_LEARNING_RATE = 5e-4
ADAM_BETAS = (0.9, 0.999)
DEFAULT_SEED = 0
DEFAULT_CHECKPOINT_EVERY = 1000
DEFAULT_LOG_EVERY = 50
DEFAULT_MAX_VALIDATION_WINDOWS = 4096
DISPLAY_EVERY_STEPS = 10  # how often the progress line's loss / KL / speed refresh

# Splits each kind trains and validates on (paper section 3.1).
GENERATOR_SPLITS = ("train-1", "valid-1")
LM_SPLITS = ("train-2", "valid-2")

# Settings a resumed run must share with the run it continues (else it would be another run).
LOCKED_SETTINGS = ("preset", "batch_size", "learning_rate", "kl_weight", "anneal_epochs", "free_bits", "seed", "grad_clip")

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
    precision: str = "auto"  # auto (CUDA: bf16 if supported, else fp16; CPU: fp32), fp32, bf16, fp16
    resume: bool = False
    checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY
    log_every: int = DEFAULT_LOG_EVERY
    validate_every: int = 0  # extra validations every N steps; 0 = once per epoch only
    max_validation_windows: int = DEFAULT_MAX_VALIDATION_WINDOWS  # 0 = the whole validation split
    max_steps: Optional[int] = None  # stop after this many optimizer steps in total
    time_limit_seconds: Optional[float] = None  # stop (with a checkpoint) after this long
    workers: int = 1  # background threads that load batches; 0 loads in the training thread
    init_from: Optional[str] = None  # start from this saved model's weights (fresh optimizer and step 0)
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


# ---------------------------------------------------------------------------------------------
# Small pure helpers


def derive_seed(seed: int, stream: str, index: int = 0) -> int:
    """A 63-bit seed for one named random stream, stable across machines and Python versions."""
    digest = hashlib.sha256(f"{seed}:{stream}:{index}".encode()).digest()
    return int.from_bytes(digest[:8], "big") & ((1 << 63) - 1)


def epoch_order(num_windows: int, seed: int, epoch: int) -> np.ndarray:
    """The order in which epoch ``epoch`` visits the training windows (depends on nothing else)."""
    generator = torch.Generator().manual_seed(derive_seed(seed, "order", epoch))
    return torch.randperm(num_windows, generator=generator).numpy()


def validation_subset(num_windows: int, max_windows: int) -> np.ndarray:
    """A fixed subset (sorted indices) of the validation split, the same for every run."""
    if max_windows <= 0 or num_windows <= max_windows:
        return np.arange(num_windows)
    generator = torch.Generator().manual_seed(VALIDATION_SEED)
    return np.sort(torch.randperm(num_windows, generator=generator)[:max_windows].numpy())


def is_plain_model_name(out: str) -> bool:
    """``folk-clsm`` is a model name; ``runs/try``, ``./x`` or ``~/m`` are paths."""
    return bool(_PLAIN_NAME.match(out)) and out not in (".", "..")


def resolve_output_dir(out: str) -> Path:
    """A plain name goes to the user models directory (where ``--model NAME`` looks); else a path."""
    if is_plain_model_name(out):
        from clsm_cli.checkpoint import user_model_dir

        return user_model_dir(out)
    return Path(out).expanduser()


def splits_for(kind: str) -> tuple[str, str]:
    return LM_SPLITS if kind == "lm" else GENERATOR_SPLITS


def tokens_to_tensor(windows: np.ndarray, device: torch.device) -> torch.Tensor:
    """(n, 128) uint8 windows -> LongTensor on ``device``."""
    return torch.from_numpy(np.ascontiguousarray(windows)).to(device=device, dtype=torch.long, non_blocking=True)


# ---------------------------------------------------------------------------------------------
# One optimizer step (also what benchmarks/train.py times)


class LossModule(torch.nn.Module):
    """Wraps a model so that ``forward`` is its objective: what DDP needs to sync gradients."""

    def __init__(self, model: torch.nn.Module, objective: Objective):
        super().__init__()
        self.model = model
        self.objective = objective

    def forward(self, tokens, conditions: BatchConditions, kl_weight: float):
        # No generator: every random draw of the batch (τ, masks, posterior noise) is in ``conditions``.
        return self.objective.training_loss(self.model, tokens, conditions, kl_weight, None)


def make_optimizer(model: torch.nn.Module, learning_rate: float) -> torch.optim.Optimizer:
    return torch.optim.Adam(model.parameters(), lr=learning_rate, betas=ADAM_BETAS)


def train_step(
    loss_module: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scaler: "torch.amp.GradScaler",
    runtime: Runtime,
    tokens: torch.Tensor,
    conditions: BatchConditions,
    kl_weight: float,
    grad_clip: float = 0.0,
) -> dict[str, torch.Tensor]:
    """Forward, backward and one Adam step; returns the detached scalar terms of the loss.

    ``conditions`` carries the batch's draws (see ``Objective.sample_conditions``)."""
    optimizer.zero_grad(set_to_none=True)
    with runtime.autocast():
        out = loss_module(tokens, conditions, kl_weight)
    scaler.scale(out["loss"]).backward()
    if grad_clip > 0:
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(loss_module.parameters(), grad_clip)
    scaler.step(optimizer)
    scaler.update()
    return {
        name: value.detach().float()
        for name, value in out.items()
        if isinstance(value, torch.Tensor) and value.dim() == 0
    }


# ---------------------------------------------------------------------------------------------
# Progress display


class Reporter:
    """Rich progress on stderr (rank 0 only): a bar with loss / KL / speed, and message lines."""

    def __init__(self, enabled: bool, console=None):
        self.enabled = enabled
        self.console = console
        self._progress = None
        self._task = None

    def start(self, description: str, total_steps: int, completed_steps: int) -> None:
        if not self.enabled:
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.console = self.console or Console(stderr=True, highlight=False)
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[stats]}"),
            TimeRemainingColumn(),
            console=self.console,
            transient=False,
        )
        self._progress.start()
        self._task = self._progress.add_task(description, total=total_steps, completed=completed_steps, stats="")

    def update(self, completed_steps: int, stats: str) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=completed_steps, stats=stats)

    def message(self, text: str) -> None:
        if not self.enabled:
            return
        if self._progress is not None:
            self._progress.console.print(text, highlight=False, soft_wrap=True)
        else:
            from rich.console import Console

            (self.console or Console(stderr=True, highlight=False)).print(text, highlight=False, soft_wrap=True)

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


def format_metrics(metrics: dict[str, float], names: tuple[str, ...] = ()) -> str:
    shown = names or tuple(metrics)
    parts = []
    for name in shown:
        if name in metrics:
            value = metrics[name]
            parts.append(f"{name.replace('_', ' ')} {value:.4g}" if abs(value) < 1e4 else f"{name} {value:.3e}")
    return " · ".join(parts)


# ---------------------------------------------------------------------------------------------
# Batches


class BatchLoader:
    """Reads batches of windows in the background (``workers`` threads), in a fixed order."""

    def __init__(self, windows, workers: int):
        self.windows = windows
        self.workers = workers
        self._pool = ThreadPoolExecutor(max_workers=workers) if workers > 0 else None

    def iterate(self, index_batches: list[np.ndarray]):
        if self._pool is None:
            for indices in index_batches:
                yield self.windows[indices]
            return
        ahead = 2 * self.workers
        pending: list[Future] = []
        position = 0
        while position < len(index_batches) or pending:
            while position < len(index_batches) and len(pending) < ahead:
                pending.append(self._pool.submit(self.windows.__getitem__, index_batches[position]))
                position += 1
            yield pending.pop(0).result()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)


# ---------------------------------------------------------------------------------------------
# The run


class _StopRequest:
    """Ctrl-C once: finish the current step, checkpoint, save. Twice: stop at once."""

    def __init__(self):
        self.requested = False
        self._previous = None

    def install(self) -> None:
        try:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        except ValueError:  # not the main thread (e.g. inside a test runner thread)
            self._previous = None

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def uninstall(self) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None


def train(options: TrainOptions, *, show_progress: bool = True, console=None) -> TrainResult:
    """Train (or resume training) one model as ``options`` says; return where it was saved."""
    _check_options(options)
    runtime = start_runtime(options.device, options.precision)
    try:
        return _Run(options, runtime, Reporter(show_progress and runtime.is_main, console)).run()
    finally:
        stop_runtime(runtime)


def _check_options(options: TrainOptions) -> None:
    if options.kind not in MODEL_KINDS:
        raise UsageError(f"model must be one of {', '.join(MODEL_KINDS)}, got {options.kind!r}")
    if options.beta is not None and options.kind != "clsm":
        raise UsageError(f"--beta is the CLSM's KL weight; for {options.kind} leave it out (the VAE's is --gamma)")
    if options.gamma is not None and options.kind != "vae":
        raise UsageError(f"--gamma is the VAE's KL weight; for {options.kind} leave it out (CLSM's is --beta)")
    if options.free_bits is not None and options.kind not in ("clsm", "vae"):
        raise UsageError(f"--free-bits applies to latent models (clsm, vae), not {options.kind}")
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


class _Run:
    """One training session (a fresh run or a resumed one) on one rank."""

    def __init__(self, options: TrainOptions, runtime: Runtime, reporter: Reporter):
        self.options = options
        self.runtime = runtime
        self.reporter = reporter
        self.out_dir = resolve_output_dir(options.out)
        self.log_path = self.out_dir / LOG_FILE_NAME
        self.stop_request = _StopRequest()

    # ----------------------------------------------------------------- setup
    def _open_data(self):
        from clsm_cli.data.shards import open_split, read_manifest

        data_dir = Path(self.options.data_dir)
        if not data_dir.is_dir():
            raise InputFileError(
                f"the data folder {data_dir} does not exist; build one with `clsm data build SRC --out {data_dir}`"
            )
        manifest = read_manifest(data_dir)  # InputFileError (exit 3) when it is not a dataset
        train_split, valid_split = splits_for(self.options.kind)
        train_set = open_split(data_dir, train_split)
        valid_set = open_split(data_dir, valid_split)
        return manifest, train_set, valid_set

    def _resolve_settings(self, saved: Optional[dict]) -> dict[str, Any]:
        """This run's settings: explicit options, else the resumed run's, else the defaults."""
        options = self.options
        kl_option = options.beta if options.kind == "clsm" else options.gamma if options.kind == "vae" else None
        default_kl = DEFAULT_BETA if options.kind == "clsm" else DEFAULT_GAMMA if options.kind == "vae" else 0.0
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
        }
        defaults = {
            "preset": DEFAULT_PRESET,
            "batch_size": DEFAULT_BATCH_SIZE,
            "learning_rate": DEFAULT_LEARNING_RATE,
            "kl_weight": default_kl,
            "anneal_epochs": DEFAULT_ANNEAL_EPOCHS,
            "free_bits": 0.0,
            "seed": DEFAULT_SEED,
            "grad_clip": 0.0,
            "epochs": DEFAULT_EPOCHS,
        }
        settings = {}
        for name, value in explicit.items():
            if saved is not None and name in saved:
                if value is not None and name in LOCKED_SETTINGS and value != saved[name]:
                    flag = _flag_for(name, options.kind)
                    raise UsageError(
                        f"{flag} {value} differs from the {saved[name]} that the run in {self.out_dir} "
                        "was started with; resume without it, or train a new model with another --out"
                    )
                settings[name] = saved[name] if value is None else value
            else:
                settings[name] = defaults[name] if value is None else value
        return settings

    def _check_output(self) -> Optional[dict]:
        """Refuse to overwrite a finished or running model; with --resume, read its checkpoint."""
        if self.options.resume:
            if not training_state.has_training_state(self.out_dir):
                raise UsageError(
                    f"--resume found no training checkpoint in {self.out_dir}; start without --resume"
                )
            return training_state.read_training_info(self.out_dir)
        if self.out_dir.exists() and (not self.out_dir.is_dir() or any(self.out_dir.iterdir())):
            raise OutputError(
                f"{self.out_dir} already exists; choose another --out, or add --resume to continue its training"
            )
        return None

    # ----------------------------------------------------------------- main
    def run(self) -> TrainResult:
        from clsm_cli.models.config import config_to_dict

        manifest, train_set, valid_set = self._open_data()
        saved = self._check_output()
        saved_info = saved["info"] if saved else None
        self.data_hash = _manifest_hash(manifest)
        if saved_info is not None and saved_info.get("data_hash") != self.data_hash:
            raise UsageError(
                f"the data in {self.options.data_dir} is not the data the run in {self.out_dir} was started on; "
                "resume with the same --data folder"
            )
        self.settings = self._resolve_settings(saved_info["settings"] if saved_info else None)
        self.train_set, self.valid_set = train_set, valid_set
        self._plan_steps()
        self._build(saved_info)
        self.progress = _Progress()
        if self.options.resume:
            self._restore()
        elif self.runtime.is_main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        barrier(self.runtime)
        if self.runtime.is_main:
            self._write_reproducibility(finished=None)
            self._announce()

        self.stop_request.install()
        self.reporter.start(self.options.kind, self.total_steps, self.progress.global_step)
        loader = BatchLoader(train_set, self.options.workers)
        try:
            stop_reason = self._train_steps(loader)
            if self.interval.count:
                self.progress.last_train = self.interval.means(self.runtime)
            if self.progress.validated_at_step != self.progress.global_step:
                self._validate_and_log()
            self._save_checkpoint()
        finally:
            loader.close()
            self.stop_request.uninstall()
            self.reporter.stop()

        progress = self.progress
        result = TrainResult(
            model_directory=self.out_dir,
            global_step=progress.global_step,
            epochs_completed=progress.global_step / self.steps_per_epoch,
            completed=stop_reason == "completed",
            stop_reason=stop_reason,
            wall_seconds=self._elapsed(),
            train_metrics=progress.last_train,
            validation_metrics=progress.last_validation,
            log_path=self.log_path,
        )
        if self.runtime.is_main:
            from clsm_cli.checkpoint import save_model

            record = self._training_record(result)
            save_model(self.model, self.out_dir, record)
            self._write_reproducibility(finished=record)
        barrier(self.runtime)
        return result

    def _plan_steps(self) -> None:
        options, batch_size = self.options, int(self.settings["batch_size"])
        train_split, valid_split = splits_for(options.kind)
        self.steps_per_epoch = len(self.train_set) // batch_size
        if self.steps_per_epoch == 0:
            raise InputFileError(
                f"the {train_split} split of {options.data_dir} holds {len(self.train_set)} windows, "
                f"fewer than one batch of {batch_size}; use more data or a smaller --batch-size"
            )
        if len(self.valid_set) == 0:
            raise InputFileError(f"the {valid_split} split of {options.data_dir} holds no windows")
        self.planned_steps = self.steps_per_epoch * int(self.settings["epochs"])
        self.total_steps = min(self.planned_steps, options.max_steps or self.planned_steps)
        self.batch_size = batch_size
        self.row_start, self.row_stop = rank_rows(batch_size, self.runtime)
        self.validation_indices = validation_subset(len(self.valid_set), options.max_validation_windows)

    def _build(self, saved_info: Optional[dict]) -> None:
        """Model (seeded), objective, optimizer, scaler and the run's random streams."""
        from clsm_cli.models.config import config_to_dict, preset_config
        from clsm_cli.models.registry import build_model

        options, runtime, settings = self.options, self.runtime, self.settings
        seed = int(settings["seed"])
        self.config = preset_config(options.kind, settings["preset"])
        self.config_dict = config_to_dict(self.config)
        if saved_info is not None and saved_info.get("config") != self.config_dict:
            raise UsageError(f"the model config saved in {self.out_dir} differs from preset {settings['preset']}")
        torch.manual_seed(derive_seed(seed, "init"))
        self.model = build_model(self.config).to(runtime.device)
        self.init_source = saved_info.get("init_from") if saved_info is not None else None
        if options.init_from is not None and saved_info is None:
            self.init_source = self._load_initial_weights(options.init_from)
        self.objective = Objective(
            ObjectiveSettings(
                kind=options.kind,
                final_kl_weight=float(settings["kl_weight"]),
                anneal_steps=anneal_steps_for(float(settings["anneal_epochs"]), self.steps_per_epoch),
                free_bits=float(settings["free_bits"]),
                latent_dim=int(getattr(self.config, "z_dim", 0)),
            )
        )
        self.optimizer = make_optimizer(self.model, float(settings["learning_rate"]))
        self.scaler = torch.amp.GradScaler(runtime.device.type, enabled=runtime.amp_dtype == torch.float16)
        # τ and ARNN masks: one CPU stream shared by all ranks. Posterior noise: one stream shared by
        # all ranks too, drawn for the global batch (on the device; seeded as rank 0's stream was when
        # noise was per rank, so one-process runs draw what they drew before). Dropout: one per rank.
        self.condition_generator = torch.Generator().manual_seed(derive_seed(seed, "conditions"))
        self.noise_generator = torch.Generator(device=runtime.device).manual_seed(derive_seed(seed, "noise", 0))
        torch.manual_seed(derive_seed(seed, "dropout", runtime.rank))
        self.info = {
            "kind": options.kind,
            "config": self.config_dict,
            "data_hash": self.data_hash,
            "settings": settings,
            "world_size": runtime.world_size,
            "init_from": self.init_source,
        }
        self.loss_module: torch.nn.Module = LossModule(self.model, self.objective)
        if runtime.distributed:
            device_ids = [runtime.device.index] if runtime.device.type == "cuda" else None
            self.loss_module = torch.nn.parallel.DistributedDataParallel(self.loss_module, device_ids=device_ids)
        self.interval = _Interval()  # loss terms since the last log line
        self.display = _Interval()  # loss terms since the last progress refresh

    def _load_initial_weights(self, name_or_path: str) -> dict:
        """Copy a saved model's weights into the fresh model (--init-from); say where they came from."""
        from clsm_cli.checkpoint import load_model, resolve_model
        from clsm_cli.models.config import config_to_dict

        source = load_model(resolve_model(name_or_path))  # ModelError (exit 4) when unreadable
        # The recommended decoding is not part of the architecture: a shipped model may differ there.
        source_config = dataclasses.replace(
            source.config,
            decoding_temperature=self.config.decoding_temperature,
            decoding_top_p=self.config.decoding_top_p,
        ) if source.kind == self.options.kind else source.config
        if source.kind != self.options.kind or config_to_dict(source_config) != self.config_dict:
            raise UsageError(
                f"--init-from {name_or_path} is a {source.kind} model ({source.metadata.get('training', {}).get('preset', '?')} "
                f"preset) that does not fit a {self.options.kind} of preset {self.settings['preset']}; "
                "start from a model of the same kind and preset"
            )
        self.model.load_state_dict(source.model.state_dict())
        return {
            "model": str(source.directory),
            "weights_sha256": source.metadata.get("weights_sha256"),
            "steps": source.metadata.get("training", {}).get("steps"),
        }

    def _restore(self) -> None:
        state, scaler_state = training_state.load_training_state(
            self.out_dir, model=self.model, optimizer=self.optimizer, device=self.runtime.device
        )
        if scaler_state and self.scaler.is_enabled():
            self.scaler.load_state_dict(scaler_state)
        self._restore_rng(state)
        self.progress = _Progress.from_dict(state.progress)
        self._trim_log(self.progress.global_step)

    def _announce(self) -> None:
        parameters = sum(parameter.numel() for parameter in self.model.parameters())
        self.reporter.message(
            f"training {self.options.kind} ({self.settings['preset']} preset, {parameters:,} parameters) on "
            f"{self.runtime.describe()}; {len(self.train_set):,} windows, {self.steps_per_epoch:,} steps per epoch, "
            f"saving to {self.out_dir}"
        )
        if self.options.resume:
            self.reporter.message(
                f"resuming at step {self.progress.global_step:,} (epoch {self.progress.epoch + 1})"
            )

    # ----------------------------------------------------------------- the loop
    def _train_steps(self, loader: BatchLoader) -> str:
        """Train until the planned steps are done or a stop is requested; return why it stopped."""
        self.session_start = time.perf_counter()
        self.session_elapsed_before = self.progress.elapsed_seconds
        self.session_steps = 0
        progress, seed = self.progress, int(self.settings["seed"])
        while progress.global_step < self.total_steps:
            order = epoch_order(len(self.train_set), seed, progress.epoch)
            first = progress.step_in_epoch
            last = min(self.steps_per_epoch, first + self.total_steps - progress.global_step)
            index_batches = [
                order[step * self.batch_size + self.row_start : step * self.batch_size + self.row_stop]
                for step in range(first, last)
            ]
            for windows in loader.iterate(index_batches):
                self._train_one_batch(windows)
                stop_reason = self._after_step()
                if stop_reason:
                    return stop_reason
        return "completed" if progress.global_step >= self.planned_steps else "max-steps"

    def _train_one_batch(self, windows: np.ndarray) -> None:
        runtime, progress = self.runtime, self.progress
        tokens = tokens_to_tensor(windows, runtime.device)  # (B / world_size, 128)
        conditions = self.objective.sample_conditions(
            self.model, self.batch_size, self.condition_generator, self.noise_generator
        )  # the global batch's τ / mask and posterior noise, the same on every rank
        conditions = conditions.rows(self.row_start, self.row_stop).to(runtime.device)
        kl_weight = self.objective.kl_weight(progress.global_step)
        terms = train_step(
            self.loss_module, self.optimizer, self.scaler, runtime, tokens, conditions, kl_weight,
            float(self.settings["grad_clip"]),
        )
        terms["kl_weight"] = torch.tensor(kl_weight)
        self.interval.add(terms)
        self.display.add(terms)
        progress.global_step += 1
        progress.step_in_epoch += 1
        self.session_steps += 1
        if progress.step_in_epoch == self.steps_per_epoch:
            progress.epoch += 1
            progress.step_in_epoch = 0

    def _after_step(self) -> str:
        """Progress line, log line, validation and checkpoint when due; the stop reason or ''."""
        options, step = self.options, self.progress.global_step
        last = step == self.total_steps
        if step % DISPLAY_EVERY_STEPS == 0 or last:
            speed = self.session_steps / max(time.perf_counter() - self.session_start, 1e-9)
            stats = format_metrics(self.display.local_means(), ("loss", "kl", "accuracy"))
            self.reporter.update(step, f"{stats} · {speed:.2f} steps/s")
            self.display.reset()
        if step % options.log_every == 0 or last:
            self._log_training()
        end_of_epoch = self.progress.step_in_epoch == 0
        if end_of_epoch or (options.validate_every and step % options.validate_every == 0):
            self._validate_and_log()
        if step % options.checkpoint_every == 0:
            self._save_checkpoint()
        return self._should_stop()

    def _log_training(self) -> None:
        self.progress.last_train = self.interval.means(self.runtime)
        self.interval.reset()
        if not self.runtime.is_main:
            return
        wall = time.perf_counter() - self.session_start
        step = self.progress.global_step
        self._log(
            {
                "type": "train",
                "step": step,
                "epoch": step / self.steps_per_epoch,
                **self.progress.last_train,
                "learning_rate": self.optimizer.param_groups[0]["lr"],
                "steps_per_second": self.session_steps / wall,
                "windows_per_second": self.session_steps * self.batch_size / wall,
                "elapsed_seconds": self._elapsed(),
            }
        )

    def _validate_and_log(self) -> None:
        metrics = self._validate()
        step = self.progress.global_step
        self.progress.validated_at_step = step
        self.progress.last_validation = metrics
        if self.runtime.is_main:
            self._log({"type": "validation", "step": step, "epoch": step / self.steps_per_epoch, **metrics})
            self.reporter.message(
                f"validation at step {step:,} (epoch {step / self.steps_per_epoch:.2f}): {format_metrics(metrics)}"
            )

    def _save_checkpoint(self) -> None:
        self.progress.elapsed_seconds = self._elapsed()
        rng = self._gather_rng()
        if self.runtime.is_main:
            training_state.save_training_state(
                self.out_dir,
                model=self.model,
                optimizer=self.optimizer,
                scaler_state=self.scaler.state_dict() if self.scaler.is_enabled() else {},
                progress=dataclasses.asdict(self.progress),
                rng_states=rng,
                info=self.info,
            )
        barrier(self.runtime)

    def _elapsed(self) -> float:
        """Training seconds over every session of this run (setup and earlier stops excluded)."""
        if not hasattr(self, "session_start"):
            return self.progress.elapsed_seconds
        return self.session_elapsed_before + time.perf_counter() - self.session_start

    # ----------------------------------------------------------------- pieces
    def _should_stop(self) -> str:
        reason = ""
        if self.stop_request.requested:
            reason = "interrupted"
        elif self.options.time_limit_seconds is not None and (
            time.perf_counter() - self.session_start >= self.options.time_limit_seconds
        ):
            reason = "time-limit"
        if self.runtime.distributed:
            # Ranks must agree, or one would wait forever in the next all-reduce.
            reason = broadcast_object(reason, self.runtime)
        return reason

    def _validate(self) -> dict[str, float]:
        """Metrics on the fixed validation subset; ranks share its batches and sum their results."""
        runtime, model, objective = self.runtime, self.model, self.objective
        indices, batch_size = self.validation_indices, self.batch_size
        sums = MetricSums()
        devices = [runtime.device] if runtime.device.type == "cuda" else []
        was_training = model.training
        model.eval()
        try:
            with torch.random.fork_rng(devices=devices), torch.no_grad():
                for batch_index, start in enumerate(range(0, len(indices), batch_size)):
                    if batch_index % runtime.world_size != runtime.rank:
                        continue
                    tokens = tokens_to_tensor(self.valid_set[indices[start : start + batch_size]], runtime.device)
                    conditions = objective.validation_conditions(model, batch_index, tokens.shape[0])
                    noise = torch.Generator(device=runtime.device).manual_seed(VALIDATION_SEED + batch_index)
                    with runtime.autocast():
                        sums.merge(objective.validation_metrics(model, tokens, conditions.to(runtime.device), noise))
        finally:
            model.train(was_training)
        names = sorted(set().union(*all_gather_objects(sorted(sums.totals), runtime)))
        totals = all_reduce_sum([sums.totals.get(name, 0.0) for name in names], runtime)
        weights = all_reduce_sum([sums.weights.get(name, 0.0) for name in names], runtime)
        return {name: total / weight for name, total, weight in zip(names, totals, weights) if weight}

    def _gather_rng(self) -> dict[str, torch.Tensor]:
        """Every random stream's state; per-rank streams are collected from all ranks."""
        own = {"torch": torch.get_rng_state()}
        if self.runtime.device.type == "cuda":
            own["cuda"] = torch.cuda.get_rng_state(self.runtime.device)
        states = {"conditions": self.condition_generator.get_state(), "noise": self.noise_generator.get_state()}
        for rank, rank_states in enumerate(all_gather_objects(own, self.runtime)):
            for name, value in rank_states.items():
                states[f"rank{rank}/{name}"] = value
        return states

    def _restore_rng(self, state: training_state.TrainingState) -> None:
        rng = state.rng_states
        self.condition_generator.set_state(rng["conditions"])
        prefix = f"rank{self.runtime.rank}/"
        saved_world = int(state.info.get("world_size", 1))
        if saved_world != self.runtime.world_size and self.runtime.is_main:
            self.reporter.message(
                f"[yellow]warning:[/yellow] this run was started with {saved_world} processes and resumes with "
                f"{self.runtime.world_size}; it continues, but not bit-identically"
            )
        noise = rng.get("noise", rng.get("rank0/noise"))  # older checkpoints kept one per rank
        if noise is not None:
            try:
                self.noise_generator.set_state(noise)
            except RuntimeError:  # the saved run used another device type; keep the fresh stream
                pass
        if prefix + "torch" not in rng:
            return  # a rank the saved run did not have keeps its freshly seeded dropout stream
        torch.set_rng_state(rng[prefix + "torch"])
        if self.runtime.device.type == "cuda" and prefix + "cuda" in rng:
            torch.cuda.set_rng_state(rng[prefix + "cuda"], self.runtime.device)

    def _log(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, sort_keys=False)
        with open(self.log_path, "a", encoding="utf-8") as stream:
            stream.write(line + "\n")

    def _trim_log(self, step: int) -> None:
        """Drop log lines written after the checkpoint we resume from (they will be written again)."""
        if not self.runtime.is_main or not self.log_path.exists():
            return
        kept = []
        for line in self.log_path.read_text(encoding="utf-8").splitlines():
            try:
                if json.loads(line).get("step", 0) <= step:
                    kept.append(line)
            except json.JSONDecodeError:
                continue  # a line cut short by a crash
        temporary = self.log_path.with_suffix(".jsonl.tmp")
        temporary.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
        os.replace(temporary, self.log_path)

    def _training_record(self, result: TrainResult) -> dict:
        train_split, valid_split = splits_for(self.options.kind)
        return {
            "kind": self.options.kind,
            "preset": self.settings["preset"],
            "data": {
                "directory": str(Path(self.options.data_dir).resolve()),
                "manifest_hash": self.data_hash,
                "train_split": train_split,
                "validation_split": valid_split,
                "train_windows": len(self.train_set),
                "validation_windows": len(self.validation_indices),
            },
            "settings": self.settings,
            "init_from": self.init_source,
            "seed": self.settings["seed"],
            "device": self.runtime.describe(),
            "world_size": self.runtime.world_size,
            "precision": self.runtime.precision,
            "steps": result.global_step,
            "steps_per_epoch": self.steps_per_epoch,
            "epochs_completed": result.epochs_completed,
            "completed": result.completed,
            "stop_reason": result.stop_reason,
            "wall_seconds": round(result.wall_seconds, 3),
            "final_train": result.train_metrics,
            "final_validation": result.validation_metrics,
            "clsm_version": __version__,
            "torch_version": torch.__version__,
        }

    def _write_reproducibility(self, finished: Optional[dict]) -> None:
        """The run's resolved config, data hash, code version, seed and device, beside the model."""
        record = {
            "command": list(self.options.command) or sys.argv,
            "kind": self.options.kind,
            "config": self.config_dict,
            "settings": self.settings,
            "init_from": self.init_source,
            "options": _jsonable(dataclasses.asdict(self.options)),
            "data": {"directory": str(Path(self.options.data_dir).resolve()), "manifest_hash": self.data_hash},
            "seed": self.settings["seed"],
            "device": self.runtime.describe(),
            "world_size": self.runtime.world_size,
            "precision": self.runtime.precision,
            "code": {
                "clsm_version": __version__,
                "git_commit": _git_commit(),
                "torch_version": torch.__version__,
                "numpy_version": np.__version__,
                "python_version": platform.python_version(),
                "platform": platform.platform(),
            },
            "result": finished,
        }
        path = self.out_dir / REPRODUCIBILITY_FILE_NAME
        temporary = path.with_suffix(".json.tmp")
        temporary.write_text(json.dumps(record, indent=2), encoding="utf-8")
        os.replace(temporary, path)


@dataclass
class _Progress:
    """The counters a checkpoint saves: where the run is and what it last measured."""

    global_step: int = 0
    epoch: int = 0  # epochs fully done
    step_in_epoch: int = 0  # batches of the current epoch done (its order comes from seed and epoch)
    elapsed_seconds: float = 0.0
    validated_at_step: int = -1
    last_train: dict = field(default_factory=dict)
    last_validation: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, values: dict) -> "_Progress":
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{name: value for name, value in values.items() if name in known})


class _Interval:
    """Sums of the loss terms over some steps, averaged over all ranks when read."""

    def __init__(self):
        self.reset()

    def reset(self) -> None:
        self.sums: dict[str, torch.Tensor] = {}
        self.count = 0

    def add(self, terms: dict[str, torch.Tensor]) -> None:
        # Sums stay on the terms' device: reading them (a GPU sync) happens only when logging.
        for name, value in terms.items():
            value = value.detach().float()
            self.sums[name] = self.sums[name] + value if name in self.sums else value
        self.count += 1

    def local_means(self) -> dict[str, float]:
        """This rank's means (for the progress line: no collective call)."""
        return {name: float(total) / self.count for name, total in self.sums.items()} if self.count else {}

    def means(self, runtime: Runtime) -> dict[str, float]:
        if not self.count:
            return {}
        names = sorted(self.sums)
        totals = all_reduce_sum([float(self.sums[name]) for name in names], runtime)
        return {name: total / (self.count * runtime.world_size) for name, total in zip(names, totals)}


def _manifest_hash(manifest: dict) -> str:
    """The dataset's content hash (``clsm data build`` writes it), else a hash of the manifest."""
    if isinstance(manifest.get("content_sha256"), str):
        return manifest["content_sha256"]
    return hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()


def _flag_for(setting: str, kind: str) -> str:
    names = {
        "preset": "--preset",
        "batch_size": "--batch-size",
        "learning_rate": "--lr",
        "kl_weight": "--beta" if kind == "clsm" else "--gamma",
        "anneal_epochs": "--anneal-epochs",
        "free_bits": "--free-bits",
        "seed": "--seed",
        "grad_clip": "--grad-clip",
        "epochs": "--epochs",
    }
    return names[setting]


def _jsonable(value):
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    if isinstance(value, Path):
        return str(value)
    return value


def _git_commit() -> Optional[str]:
    """The commit of a source checkout, when clsm runs from one (None for an installed wheel)."""
    source = Path(__file__).resolve().parents[2]
    if not (source / ".git").exists():
        return None
    try:
        completed = subprocess.run(
            ["git", "-C", str(source), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return completed.stdout.strip() or None
