"""The input files of one editing command, before any model is loaded: readable, each once, named apart.

:func:`check_readable` refuses files that do not exist or cannot be read (InputFileError, exit 3)
before the slow part. :func:`distinct_inputs` drops a file given twice. :func:`output_stems` gives
each input the stem its outputs are named after: its own, or, where two inputs of one batch share a
stem (``a/song.mid`` and ``b/song.mid``), the stem with the names of the folders that tell them
apart (``a-song`` and ``b-song``), so no output of a batch collides with another of the same run.
"""

from __future__ import annotations

import hashlib
import os
from collections import defaultdict
from pathlib import Path
from typing import Optional, Sequence

from clsm_cli.errors import InputFileError


def unreadable_reason(path: Path) -> Optional[str]:
    """Why ``path`` cannot be edited before it is even parsed ("does not exist", ...), or None."""
    try:
        if Path(path).is_dir():
            return "is a folder, not a MIDI file"
        with open(path, "rb") as handle:
            handle.read(1)
    except FileNotFoundError:
        return "does not exist"
    except PermissionError:
        return "cannot be read (permission denied)"
    except OSError as error:
        return f"cannot be read ({error.strerror or error})"
    return None


def file_sha256(path: Path) -> str:
    """The sha256 of a file's bytes (hex): what provenance records of the song behind an edit."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_readable(paths: Sequence[Path]) -> None:
    """InputFileError (exit 3) naming every input that does not exist or cannot be read."""
    problems = [f"{path} {reason}" for path in paths if (reason := unreadable_reason(Path(path))) is not None]
    if len(problems) == 1:
        raise InputFileError(f"{problems[0]}; nothing was edited")
    if problems:
        raise InputFileError(
            f"{len(problems)} input files cannot be edited ({'; '.join(problems)}); nothing was edited"
        )


def distinct_inputs(paths: Sequence[Path]) -> tuple[list[Path], list[Path]]:
    """The inputs with each file once (the first mention kept), and the later mentions dropped."""
    kept: list[Path] = []
    seen: set[str] = set()
    repeated: list[Path] = []
    for path in paths:
        key = os.path.realpath(path)
        if key in seen:
            repeated.append(Path(path))
        else:
            seen.add(key)
            kept.append(Path(path))
    return kept, repeated


def output_stems(paths: Sequence[Path]) -> list[str]:
    """The stem each input's outputs are named after, distinct within the batch (compared without case).

    An input keeps its own stem unless another input has the same one; those get the names of as
    many of their folders as it takes to tell them apart (``a/song.mid`` -> ``a-song``), and a
    number where even that cannot.
    """
    stems = [Path(path).stem for path in paths]
    groups: dict[str, list[int]] = defaultdict(list)
    for index, stem in enumerate(stems):
        groups[stem.casefold()].append(index)
    for indices in groups.values():
        if len(indices) > 1:
            for index, stem in zip(indices, _stems_with_folders([Path(paths[i]) for i in indices])):
                stems[index] = stem
    taken: set[str] = set()
    for index, stem in enumerate(stems):  # a folder-named stem may meet another input's own stem
        candidate, number = stem, 2
        while candidate.casefold() in taken:
            candidate, number = f"{stem}-{number}", number + 1
        stems[index] = candidate
        taken.add(candidate.casefold())
    return stems


def _stems_with_folders(paths: Sequence[Path]) -> list[str]:
    folders = [Path(os.path.abspath(path)).parent.parts[1:] for path in paths]  # without the root
    for depth in range(1, max(len(parts) for parts in folders) + 1):
        named = ["-".join([*parts[-depth:], path.stem]) for parts, path in zip(folders, paths)]
        if len({name.casefold() for name in named}) == len(named):
            return named
    return [path.stem for path in paths]  # numbered apart by output_stems
