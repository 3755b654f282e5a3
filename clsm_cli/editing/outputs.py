"""Writing one file's output set: every target checked before any is written, and all or none.

:func:`check_targets` refuses (OutputError, exit 5) before anything is written: a target that is
the input file (also through a hard or symbolic link), two targets that are one file, a folder, or
an existing file without ``--force``. :class:`OutputSet` then records each file it writes and, if
a later write fails, removes the ones this call wrote, so a call leaves all of its outputs or none.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Optional, Sequence

from clsm_cli.errors import OutputError


def make_out_dir(out_dir: Path) -> None:
    try:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"cannot create the output folder {out_dir} ({error.strerror or error})") from None


def same_file(first: Path, second: Path) -> bool:
    """True when the two paths name one file: the same path, or links to one file."""
    if os.path.realpath(first) == os.path.realpath(second):
        return True
    try:
        return os.path.samefile(first, second)
    except OSError:
        return False  # one of them does not exist yet: only the same path could be the same file


def check_targets(paths: Sequence[Path], input_path: Path, force: bool) -> None:
    """Refuse the whole set before writing any of it (see the module docstring)."""
    for index, path in enumerate(paths):
        if same_file(path, input_path):
            raise OutputError(f"{path.name} is the input file itself; clsm never overwrites its input")
        if path.is_dir():
            raise OutputError(f"{path} is a folder; move it away or choose another --out")
        for earlier in paths[:index]:
            if same_file(path, earlier):
                raise OutputError(f"{path.name} and {earlier.name} are one file; one call cannot write both")
        if path.exists() and not force:
            raise OutputError(
                f"{path} already exists; use --force to overwrite it, or another --seed to write new files"
            )


class OutputSet:
    """Writes of one call; on an error inside ``with``, every file written so far is removed again."""

    def __init__(self) -> None:
        self.written: list[Path] = []

    def write(self, path: Path, writer: Callable[[], Optional[object]]):
        """Run ``writer`` (which writes ``path``) and remember the file; returns what it returned."""
        result = writer()
        self.written.append(Path(path))
        return result

    def __enter__(self) -> "OutputSet":
        return self

    def __exit__(self, error_type, error, traceback) -> bool:
        if error_type is not None:
            for path in reversed(self.written):
                try:
                    path.unlink()
                except OSError:
                    pass  # the error being raised says what went wrong; a leftover is the lesser harm
        return False
