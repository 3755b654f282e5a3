"""The run's folder: what may be started, resumed or reused there, and creating it.

- a folder with a training checkpoint: ``--resume`` continues it; a fresh start is refused;
- a folder with a saved model but no checkpoint: refused (it would overwrite a finished model);
- a folder holding only what a run writes before its first checkpoint (a log, the
  reproducibility record, an empty ``training/``, temporaries): a run killed early. Both a fresh
  start and ``--resume`` start it again at step 0, so no one has to delete it by hand;
- any other non-empty folder is someone's files: refused.

``--force`` starts a folder that holds only a clsm run (a checkpoint, damaged or not, a saved model,
the run's log and records) again at step 0: those files are removed first. It never removes a
file a run does not write, so a folder with someone's files is still refused.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Optional

from clsm_cli.checkpoint import CARD_FILE, CONFIG_FILE, WEIGHTS_FILE
from clsm_cli.errors import OutputError, UsageError
from clsm_cli.models.registry import ModelKind
from clsm_cli.train import state as training_state
from clsm_cli.train.distributed import PRECISION_CHOICES
from clsm_cli.train.options import TrainOptions, resolve_output_dir
from clsm_cli.train.records import LOG_FILE_NAME, REPRODUCIBILITY_FILE_NAME

RUN_FILES = {LOG_FILE_NAME, REPRODUCIBILITY_FILE_NAME, training_state.STATE_DIRECTORY_NAME}
MODEL_FILES = {CONFIG_FILE, WEIGHTS_FILE, CARD_FILE}  # what a finished run saves beside them


def is_clsm_run(out_dir: Path) -> bool:
    """True for a folder holding nothing but what clsm train writes (what ``--force`` may clear)."""
    names = {path.name for path in out_dir.iterdir() if not _is_temporary(path.name)}
    return names <= RUN_FILES | MODEL_FILES


def is_unfinished_run(out_dir: Path) -> bool:
    """True for a folder that holds only what a run writes before its first checkpoint."""
    if not out_dir.is_dir() or training_state.has_training_state(out_dir):
        return False
    names = {path.name for path in out_dir.iterdir() if not _is_temporary(path.name)}
    return bool(names) and names <= RUN_FILES and not (out_dir / CONFIG_FILE).exists()


def check_output(out_dir: Path, resume: bool, force: bool = False) -> tuple[Optional[dict], str]:
    """``(saved checkpoint info or None, a note for the user or "")``; OutputError when refused."""
    if resume and training_state.has_training_state(out_dir):
        return training_state.read_training_info(out_dir), ""
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"{out_dir} is a file, not a folder; choose another --out")
    if force and out_dir.is_dir() and any(out_dir.iterdir()):
        if not is_clsm_run(out_dir):
            raise OutputError(f"{out_dir} holds files clsm train does not write, which --force never removes; "
                              "choose another --out")
        return None, f"--force: {out_dir} is started again at step 0 (its checkpoint and model are removed)"
    if is_unfinished_run(out_dir):
        return None, f"{out_dir} holds a run stopped before its first checkpoint; starting it again at step 0"
    if resume:
        if out_dir.exists() and any(out_dir.iterdir()):
            raise OutputError(f"{out_dir} holds no training checkpoint and is not a clsm run; choose another --out")
        return None, f"--resume found no training checkpoint in {out_dir}; starting at step 0"
    if out_dir.exists() and any(out_dir.iterdir()):
        if training_state.has_training_state(out_dir) or (out_dir / WEIGHTS_FILE).exists():
            raise OutputError(
                f"{out_dir} already exists; choose another --out, add --resume to continue its training, "
                "or --force to start it again"
            )
        raise OutputError(f"{out_dir} already exists and holds other files; choose another --out")
    return None, ""


def create_output(out_dir: Path, fresh: bool = False) -> None:
    """Make the run's folder (and clear what an unfinished run left, or with ``fresh`` (``--force``)
    the whole clsm run in it); OutputError (exit 5) when it cannot."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        if fresh and is_clsm_run(out_dir):
            for path in out_dir.iterdir():
                if path.is_dir() and path.name == training_state.STATE_DIRECTORY_NAME:
                    shutil.rmtree(path)
                elif path.name in RUN_FILES | MODEL_FILES or _is_temporary(path.name):
                    path.unlink()
        if is_unfinished_run(out_dir):
            (out_dir / LOG_FILE_NAME).unlink(missing_ok=True)
        training_state.remove_leftovers(training_state.state_directory(out_dir))
        probe = out_dir / f".{LOG_FILE_NAME}.probe"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise OutputError(f"cannot write the model folder {out_dir}: {error.strerror or error}") from None


def _is_temporary(name: str) -> bool:
    return name.endswith(".tmp") or ".tmp-" in name


def check_resumed_kind(saved_info: Optional[dict], kind: ModelKind, out_dir: Path) -> None:
    """UsageError naming the kind when a resume asks for another kind than the run in ``out_dir`` trains."""
    saved_kind = saved_info.get("kind") if saved_info else None
    if saved_kind is not None and saved_kind != kind.name:
        raise UsageError(f"the run in {out_dir} trains {saved_kind}, not {kind.name}; resume it with "
                         f"clsm train {saved_kind} --resume, or train {kind.name} into another --out")


def run_precision(options: TrainOptions) -> str:
    """--precision, else (resuming) the precision the run in --out was started with, else auto. A
    resume that asks for another one is refused with the other locked settings (``resolve_settings``)."""
    if options.precision is not None:
        return options.precision
    out_dir = resolve_output_dir(options.out)
    if options.resume and training_state.has_training_state(out_dir):
        settings = training_state.read_training_info(out_dir)["info"].get("settings", {})
        if isinstance(settings, dict) and settings.get("precision") in PRECISION_CHOICES:
            return settings["precision"]
    return "auto"
