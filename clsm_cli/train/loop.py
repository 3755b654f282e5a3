"""The training loop behind ``clsm train``: the same loop for CLSM, the VAE, both ARNNs and the LM.

What a run does (paper section 3.4 for the defaults):

1. reads the data manifest and the kind's splits (``data.py``; the model registry says which),
   builds the model from a preset on the chosen meter's grid (seeded), and an Adam optimizer;
2. each epoch visits the training windows in an order that depends only on (seed, epoch), in
   batches of 64 (the last incomplete batch is dropped); the kind's ``Objective`` turns a batch
   into a loss (τ sampled once per batch, KL annealed linearly over 2 epochs);
3. logs a JSONL line every ``log_every`` steps and per validation, validates at the end of every
   epoch (and every ``validate_every`` steps if asked), reports progress through the
   ``clsm_cli.progress`` protocol;
4. writes an atomic training checkpoint (``state.py``) every ``checkpoint_every`` steps, at least
   every ``checkpoint_seconds`` of training, and when it stops (end, limit, Ctrl-C or SIGTERM), so
   ``--resume`` continues bit for bit;
5. saves the finished model with ``checkpoint.save_model`` and writes ``reproducibility.json``.

A run whose weights stop being finite numbers has diverged: it stops with a ModelError (exit 4),
saves nothing from its last steps, and leaves the last good checkpoint for ``--resume``.

Under ``torchrun`` every rank computes the same global batch order, conditions and noise and trains
on its own equal slice; DistributedDataParallel averages gradients. Decisions that depend on time
(stop, checkpoint) are rank 0's, broadcast so that all ranks agree.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from clsm_cli import __version__
from clsm_cli.errors import InputFileError, ModelError, UsageError
from clsm_cli.progress import Progress, SilentProgress
from clsm_cli.train import state as training_state
from clsm_cli.train.data import TrainingData, on_data_grid, open_training_data
from clsm_cli.train.distributed import Runtime, all_gather_objects, barrier, broadcast_object, rank_rows, start_runtime, stop_runtime
from clsm_cli.train.objectives import Objective, ObjectiveSettings, anneal_steps_for
from clsm_cli.train.options import (  # noqa: F401 - re-exported: the package's API lives here
    TrainOptions,
    TrainResult,
    check_options,
    is_plain_model_name,
    resolve_output_dir,
    resolve_settings,
)
from clsm_cli.train.output import check_output, check_resumed_kind, create_output, run_precision
from clsm_cli.train.records import (  # noqa: F401 - re-exported
    LOG_FILE_NAME,
    REPRODUCIBILITY_FILE_NAME,
    LossSums,
    RunLog,
    RunProgress,
    format_metrics,
    jsonable,
    write_reproducibility,
)
from clsm_cli.train.signals import StopRequest
from clsm_cli.train.step import (  # noqa: F401 - re-exported
    BatchLoader,
    LossModule,
    derive_seed,
    epoch_order,
    make_optimizer,
    parameters_are_finite,
    tokens_to_tensor,
    train_step,
    validation_subset,
)
from clsm_cli.train.streams import RandomStreams
from clsm_cli.train.validation import validate
from clsm_cli.train.warm_start import load_initial_weights

DISPLAY_EVERY_STEPS = 10  # how often the progress line refreshes and the weights are checked to be finite


def train(options: TrainOptions, *, progress: Optional[Progress] = None) -> TrainResult:
    """Train (or resume training) one model as ``options`` says; return where it was saved."""
    kind = check_options(options)
    runtime = start_runtime(options.device, run_precision(options))
    reporter = progress if progress is not None and runtime.is_main else SilentProgress()
    try:
        return _Run(options, kind, runtime, reporter).run()
    finally:
        stop_runtime(runtime)


class _Run:
    """One training session (a fresh run or a resumed one) on one rank."""

    def __init__(self, options: TrainOptions, kind, runtime: Runtime, progress: Progress):
        self.options = options
        self.kind = kind
        self.runtime = runtime
        self.progress = progress
        self.out_dir = resolve_output_dir(options.out)
        self.log = RunLog(self.out_dir / LOG_FILE_NAME)
        self.stop_request = StopRequest()
        self.checkpoint_step: Optional[int] = None  # the last good checkpoint, for the divergence message

    # ----------------------------------------------------------------- setup
    def run(self) -> TrainResult:
        saved, note = check_output(self.out_dir, self.options.resume, self.options.force)
        saved_info = saved["info"] if saved else None
        check_resumed_kind(saved_info, self.kind, self.out_dir)
        self.settings = resolve_settings(self.options, self.kind, saved_info["settings"] if saved_info else None, self.out_dir)
        self._make_config(saved_info)
        self.data = open_training_data(
            Path(self.options.data_dir), self.kind, self.settings["meter_group"], self.config.window_steps
        )
        if saved_info is not None and saved_info.get("data_hash") != self.data.manifest_hash:
            raise UsageError(
                f"the data in {self.options.data_dir} is not the data the run in {self.out_dir} was started on; "
                "resume with the same --data folder"
            )
        self._plan_steps()
        self._build(saved_info)
        self.counters = RunProgress()
        if saved is not None:
            self._restore()
        elif self.runtime.is_main:
            create_output(self.out_dir, fresh=self.options.force)
        barrier(self.runtime)
        if self.runtime.is_main:
            if note:
                self.progress.message(note)
            self._write_reproducibility(finished=None)
            self._announce()

        self.stop_request.install()
        task = self.progress.task(self.kind.name, self.total_steps, self.counters.global_step)
        loader = BatchLoader(self.data.train_set, self.options.workers)
        try:
            stop_reason = self._train_steps(loader, task)
            if self.interval.count:
                self.counters.last_train = self.interval.means(self.runtime)
            if self.data.validates and self.counters.validated_at_step != self.counters.global_step:
                self._validate_and_log()
            self._save_checkpoint()
        finally:
            loader.close()
            self.stop_request.uninstall()
        return self._finish(stop_reason)

    def _make_config(self, saved_info: Optional[dict]) -> None:
        from clsm_cli.models import config as model_config

        preset = model_config.preset_config(self.kind.name, self.settings["preset"])
        meters = self.options.meters or _meters_of_group(self.settings["meter_group"])
        self.config = on_data_grid(model_config.with_meter(preset, meters), Path(self.options.data_dir))
        self.config_dict = model_config.config_to_dict(self.config)
        if saved_info is not None and saved_info.get("config") != self.config_dict:
            raise UsageError(f"the model config saved in {self.out_dir} differs from preset {self.settings['preset']}")

    def _plan_steps(self) -> None:
        options, batch_size, data = self.options, int(self.settings["batch_size"]), self.data
        self.steps_per_epoch = len(data.train_set) // batch_size
        if self.steps_per_epoch == 0:
            raise InputFileError(
                f"the {data.train_split} split of {options.data_dir} holds {len(data.train_set)} windows, "
                f"fewer than one batch of {batch_size}; use more data or a smaller --batch-size"
            )
        self.planned_steps = self.steps_per_epoch * int(self.settings["epochs"])
        self.total_steps = min(self.planned_steps, options.max_steps or self.planned_steps)
        self.batch_size = batch_size
        self.row_start, self.row_stop = rank_rows(batch_size, self.runtime)
        count = len(data.validation_set) if data.validates else 0
        self.validation_indices = validation_subset(count, options.max_validation_windows)

    def _build(self, saved_info: Optional[dict]) -> None:
        """Model (seeded), objective, optimizer, scaler and the run's random streams."""
        from clsm_cli.models.registry import build_model

        options, runtime, settings = self.options, self.runtime, self.settings
        seed = int(settings["seed"])
        torch.manual_seed(derive_seed(seed, "init"))
        self.model = build_model(self.config).to(runtime.device)
        self.init_source = saved_info.get("init_from") if saved_info is not None else None
        if options.init_from is not None and saved_info is None:
            self.init_source = load_initial_weights(
                self.model, options.init_from, self.kind, self.config, self.settings["preset"]
            )
        self.objective = Objective(
            ObjectiveSettings(
                kind=self.kind.name,
                final_kl_weight=float(settings["kl_weight"]),
                anneal_steps=anneal_steps_for(float(settings["anneal_epochs"]), self.steps_per_epoch),
                free_bits=float(settings["free_bits"]),
                latent_dim=int(getattr(self.config, "z_dim", 0)),
            )
        )
        self.optimizer = make_optimizer(self.model, float(settings["learning_rate"]))
        self.scaler = torch.amp.GradScaler(runtime.device.type, enabled=runtime.amp_dtype == torch.float16)
        self.streams = RandomStreams(seed, runtime)
        self.info = {
            "kind": self.kind.name,
            "config": self.config_dict,
            "data_hash": self.data.manifest_hash,
            "settings": settings,
            "world_size": runtime.world_size,
            "init_from": self.init_source,
        }
        self.loss_module: torch.nn.Module = LossModule(self.model, self.objective)
        if runtime.distributed:
            device_ids = [runtime.device.index] if runtime.device.type == "cuda" else None
            self.loss_module = torch.nn.parallel.DistributedDataParallel(self.loss_module, device_ids=device_ids)
        self.interval = LossSums()  # loss terms since the last log line
        self.display = LossSums()  # loss terms since the last progress refresh

    def _restore(self) -> None:
        state, scaler_state = training_state.load_training_state(
            self.out_dir, model=self.model, optimizer=self.optimizer, device=self.runtime.device
        )
        if scaler_state and self.scaler.is_enabled():
            self.scaler.load_state_dict(scaler_state)
        saved_world = int(state.info.get("world_size", 1))
        if saved_world != self.runtime.world_size and self.runtime.is_main:
            self.progress.message(
                f"warning: this run was started with {saved_world} processes and resumes with "
                f"{self.runtime.world_size}; it continues, but not bit-identically"
            )
        self.streams.restore(state.rng_states)
        self.counters = RunProgress.from_dict(state.progress)
        pending = self.counters.pending_log.get(f"rank{self.runtime.rank}")
        if pending and saved_world == self.runtime.world_size:
            self.interval.restore(pending, self.runtime.device)
        self.checkpoint_step = self.counters.global_step
        if self.runtime.is_main:
            self.log.keep_until(self.counters.global_step, self._on_schedule)
            training_state.remove_leftovers(training_state.state_directory(self.out_dir))

    def _announce(self) -> None:
        parameters = sum(parameter.numel() for parameter in self.model.parameters())
        self.progress.message(
            f"training {self.kind.name} ({self.settings['preset']} preset, {self.settings['meter_group']}, "
            f"{parameters:,} parameters) on {self.runtime.describe()}; {len(self.data.train_set):,} windows, "
            f"{self.steps_per_epoch:,} steps per epoch, saving to {self.out_dir}"
        )
        if not self.data.validates:
            self.progress.message(
                f"the {self.data.validation_split} split of {self.options.data_dir} holds no windows (too few songs "
                "to set some apart), so this run trains without validation"
            )
        step = self.counters.global_step
        if step:
            self.progress.message(f"resuming at step {step:,} (epoch {self.counters.epoch + 1})")
        if self.options.max_steps is not None and step > self.options.max_steps:
            self.progress.message(
                f"warning: this run has already done {step:,} steps, more than --max-steps {self.options.max_steps:,}; "
                "there is nothing to train"
            )

    # ----------------------------------------------------------------- the loop
    def _train_steps(self, loader: BatchLoader, task) -> str:
        """Train until the planned steps are done or a stop is requested; return why it stopped."""
        self.session_start = time.perf_counter()
        self.last_checkpoint_time = self.session_start
        self.session_elapsed_before = self.counters.elapsed_seconds
        self.session_steps = 0
        counters, seed = self.counters, int(self.settings["seed"])
        while counters.global_step < self.total_steps:
            order = epoch_order(len(self.data.train_set), seed, counters.epoch)
            first = counters.step_in_epoch
            last = min(self.steps_per_epoch, first + self.total_steps - counters.global_step)
            index_batches = [
                order[step * self.batch_size + self.row_start : step * self.batch_size + self.row_stop]
                for step in range(first, last)
            ]
            for windows in loader.iterate(index_batches):
                self._train_one_batch(windows)
                stop_reason = self._after_step(task)
                if stop_reason:
                    return stop_reason
        return "completed" if counters.global_step >= self.planned_steps else "max-steps"

    def _train_one_batch(self, windows: np.ndarray) -> None:
        runtime, counters = self.runtime, self.counters
        tokens = tokens_to_tensor(windows, runtime.device)  # (B / world_size, K)
        conditions = self.objective.sample_conditions(
            self.model, self.batch_size, self.streams.conditions, self.streams.noise
        )  # the global batch's τ / mask and posterior noise, the same on every rank
        conditions = conditions.rows(self.row_start, self.row_stop).to(runtime.device)
        kl_weight = self.objective.kl_weight(counters.global_step)
        terms = train_step(
            self.loss_module, self.optimizer, self.scaler, runtime, tokens, conditions, kl_weight,
            float(self.settings["grad_clip"]),
        )
        terms["kl_weight"] = torch.tensor(kl_weight)
        self.interval.add(terms)
        self.display.add(terms)
        counters.global_step += 1
        counters.step_in_epoch += 1
        self.session_steps += 1
        if counters.step_in_epoch == self.steps_per_epoch:
            counters.epoch += 1
            counters.step_in_epoch = 0

    def _after_step(self, task) -> str:
        """Progress, log line, validation and checkpoint when due; the stop reason or ''."""
        options, step = self.options, self.counters.global_step
        last = step == self.total_steps
        if step % DISPLAY_EVERY_STEPS == 0 or last:
            self._check_finite()
            speed = self.session_steps / max(time.perf_counter() - self.session_start, 1e-9)
            stats = format_metrics(self.display.local_means(), ("loss", "kl", "accuracy"))
            task.update(completed=step, status=f"{stats} · {speed:.2f} steps/s")
            self.display.reset()
        if step % options.log_every == 0 or last:
            self._log_training()
        end_of_epoch = self.counters.step_in_epoch == 0
        if self.data.validates and (end_of_epoch or (options.validate_every and step % options.validate_every == 0)):
            self._validate_and_log()
        stop_reason, checkpoint_due = self._decisions()
        if (step % options.checkpoint_every == 0 or checkpoint_due) and not stop_reason and not last:
            self._save_checkpoint()  # a stopping run checkpoints once, after its last validation
        return stop_reason

    def _decisions(self) -> tuple[str, bool]:
        """(why to stop or '', whether a time-based checkpoint is due), the same on every rank."""
        now = time.perf_counter()
        reason = ""
        if self.stop_request.requested:
            reason = "interrupted"
        elif self.options.time_limit_seconds is not None and now - self.session_start >= self.options.time_limit_seconds:
            reason = "time-limit"
        checkpoint_due = now - self.last_checkpoint_time >= self.options.checkpoint_seconds
        if self.runtime.distributed:
            reason, checkpoint_due = broadcast_object((reason, checkpoint_due), self.runtime)
        return reason, checkpoint_due

    def _check_finite(self) -> None:
        """Stop a diverged run before anything is saved from it (weights agree on every rank)."""
        if parameters_are_finite(self.model):
            return
        kept = (
            f"the last good checkpoint (step {self.checkpoint_step:,}) is kept and --resume continues from it"
            if self.checkpoint_step is not None else "no checkpoint was written"
        )
        raise ModelError(
            f"training diverged by step {self.counters.global_step:,}: the weights are no longer finite numbers, so "
            f"nothing was saved from these steps; {kept}; lower --lr (now {self.settings['learning_rate']:g}) or "
            "set --grad-clip"
        )

    def _on_schedule(self, record: dict) -> bool:
        """Whether an uninterrupted run writes this log line (a stopped run also logs where it stops)."""
        step, options = int(record.get("step", 0)), self.options
        if record.get("type") == "train":
            return step % options.log_every == 0
        end_of_epoch = step % self.steps_per_epoch == 0
        return end_of_epoch or bool(options.validate_every and step % options.validate_every == 0)

    def _log_training(self) -> None:
        self.counters.last_train = self.interval.means(self.runtime)
        step = self.counters.global_step
        if step % self.options.log_every == 0:
            self.interval.reset()  # a line off the schedule (where a run stops) keeps its sums for the next
        if not self.runtime.is_main:
            return
        wall = time.perf_counter() - self.session_start
        self.log.append(
            {
                "type": "train",
                "step": step,
                "epoch": step / self.steps_per_epoch,
                **self.counters.last_train,
                "learning_rate": self.optimizer.param_groups[0]["lr"],
                "steps_per_second": self.session_steps / wall,
                "windows_per_second": self.session_steps * self.batch_size / wall,
                "elapsed_seconds": self._elapsed(),
            }
        )

    def _validate_and_log(self) -> None:
        self._check_finite()
        metrics = validate(
            self.model, self.objective, self.data.validation_set, self.validation_indices, self.batch_size, self.runtime
        )
        step = self.counters.global_step
        self.counters.validated_at_step = step
        self.counters.last_validation = metrics
        if self.runtime.is_main:
            self.log.append({"type": "validation", "step": step, "epoch": step / self.steps_per_epoch, **metrics})
            self.progress.message(
                f"validation at step {step:,} (epoch {step / self.steps_per_epoch:.2f}): {format_metrics(metrics)}"
            )

    def _save_checkpoint(self) -> None:
        self._check_finite()
        self.counters.elapsed_seconds = self._elapsed()
        rng = self.streams.gather()
        pending = all_gather_objects(self.interval.state(), self.runtime)
        self.counters.pending_log = {f"rank{rank}": state for rank, state in enumerate(pending)}
        if self.runtime.is_main:
            training_state.save_training_state(
                self.out_dir,
                model=self.model,
                optimizer=self.optimizer,
                scaler_state=self.scaler.state_dict() if self.scaler.is_enabled() else {},
                progress=dataclasses.asdict(self.counters),
                rng_states=rng,
                info=self.info,
            )
        self.checkpoint_step = self.counters.global_step
        self.last_checkpoint_time = time.perf_counter()
        barrier(self.runtime)

    def _elapsed(self) -> float:
        """Training seconds over every session of this run (setup and earlier stops excluded)."""
        if not hasattr(self, "session_start"):
            return self.counters.elapsed_seconds
        return self.session_elapsed_before + time.perf_counter() - self.session_start

    # ----------------------------------------------------------------- the end
    def _finish(self, stop_reason: str) -> TrainResult:
        counters = self.counters
        result = TrainResult(
            model_directory=self.out_dir,
            global_step=counters.global_step,
            epochs_completed=counters.global_step / self.steps_per_epoch,
            completed=stop_reason == "completed",
            stop_reason=stop_reason,
            wall_seconds=self._elapsed(),
            train_metrics=counters.last_train,
            validation_metrics=counters.last_validation,
            log_path=self.log.path,
            stop_signal=self.stop_request.signal if stop_reason == "interrupted" else None,
        )
        if self.runtime.is_main:
            from clsm_cli.checkpoint import save_model

            record = self._training_record(result)
            save_model(self.model, self.out_dir, record)
            self._write_reproducibility(finished=record)
        barrier(self.runtime)
        return result

    def _training_record(self, result: TrainResult) -> dict:
        data = self.data
        return {
            "kind": self.kind.name,
            "preset": self.settings["preset"],
            "meter_group": self.settings["meter_group"],
            "data": {
                "directory": str(Path(self.options.data_dir).resolve()),
                "manifest_hash": data.manifest_hash,
                "train_split": data.train_split,
                "validation_split": data.validation_split if data.validates else None,
                "train_windows": len(data.train_set),
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
        base = {
            "command": list(self.options.command) or sys.argv,
            "kind": self.kind.name,
            "config": self.config_dict,
            "settings": self.settings,
            "init_from": self.init_source,
            "options": jsonable(dataclasses.asdict(self.options)),
            "data": {"directory": str(Path(self.options.data_dir).resolve()), "manifest_hash": self.data.manifest_hash},
            "seed": self.settings["seed"],
        }
        write_reproducibility(self.out_dir / REPRODUCIBILITY_FILE_NAME, base=base, runtime=self.runtime, finished=finished)


def _meters_of_group(group: str) -> tuple[tuple[int, int], ...]:
    """``"4/4"`` -> ((4, 4), (2, 2)): the meters a model trained on that group edits."""
    from clsm_cli.timebase import Meter, group_members

    return tuple(meter.as_tuple() for meter in group_members(Meter.parse(group)))


__all__ = ["TrainOptions", "TrainResult", "TrainingData", "train"]
