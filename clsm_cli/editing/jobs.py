"""Editing a batch in several processes (``--jobs N``), results in the order of the inputs.

Each worker process chooses and loads its own models (:class:`model_choice.EditModels`, once per
process) and runs :func:`verbs.edit_file` on the files it is given; the parent gets every
:class:`FileResult` back in input order, so outputs, JSON lines and the summary read as they do
with one process. Nothing here prints. Workers are started with ``spawn`` (no state copied from
the parent, no locks held across a fork) and use one BLAS thread each, so N workers fill N cores.
"""

from __future__ import annotations

import contextlib
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Iterator, Optional, Sequence

from clsm_cli.editing.options import EditOptions, FileResult
from clsm_cli.sampling import Decoding

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


@dataclass(frozen=True)
class ModelNote:
    """A model a worker loaded: what the command says about it once."""

    name: str
    device: str
    decoding: Decoding


@dataclass(frozen=True)
class _Setup:
    options: EditOptions
    model_arg: Optional[str]
    engine: str
    device: str


_worker: dict = {}  # per worker process: its options, models and the models it has not reported yet


def _start_worker(setup: _Setup) -> None:
    from clsm_cli.editing.model_choice import EditModels

    loaded: list[ModelNote] = []
    options = setup.options
    _worker.update(options=options, loaded=loaded, models=EditModels(
        setup.model_arg, setup.engine, setup.device, options.temperature, options.top_p, contextlib.nullcontext,
        lambda model, decoding: loaded.append(ModelNote(model.name, str(model.device), decoding)),
    ))


def _edit_one(path: Path, stem: str) -> tuple[FileResult, list[ModelNote]]:
    from clsm_cli.editing.model_choice import refused_result
    from clsm_cli.editing.verbs import edit_file
    from clsm_cli.errors import ClsmError

    options, models, loaded = _worker["options"], _worker["models"], _worker["loaded"]
    try:
        edit_model, decoding = models.for_file(path, options)
        result = edit_file(path, options, edit_model, decoding, output_stem=stem)
        models.annotate(result)  # the model choice's figures (--json) and the --meter 4/4 hint
    except ClsmError as error:
        result = refused_result(path, options, error, models.forced)
    notes = list(loaded)
    loaded.clear()
    return result, notes


def edit_in_processes(paths: Sequence[Path], stems: Sequence[str], options: EditOptions, model_arg: Optional[str],
                      engine: str, device: str, jobs: int) -> Iterator[tuple[FileResult, list[ModelNote]]]:
    """(result, models its worker loaded for it) of every input, in input order, from ``jobs`` processes."""
    setup = _Setup(options, model_arg, engine, device)
    saved = {name: os.environ.get(name) for name in THREAD_VARIABLES}
    os.environ.update({name: "1" for name in THREAD_VARIABLES})  # inherited by the workers as they start
    try:
        with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn"), initializer=_start_worker,
                                 initargs=(setup,)) as pool:
            futures = [pool.submit(_edit_one, Path(path), stem) for path, stem in zip(paths, stems)]
            for future in futures:
                yield future.result()
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
