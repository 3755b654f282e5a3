"""Writing one file's output set: every target checked before any is written, and all or none.

:func:`check_targets` refuses (OutputError, exit 5) before anything is written: a target that is
the input file (also through a hard or symbolic link), two targets that are one file, a folder, or
an existing file without ``--force``.

:class:`OutputSet` is the transaction that writes the set. Each file is first written to a
temporary beside its target (``add`` with bytes, ``add_written`` with a function that writes a
path: every output format plugs in the same way; ``atomic.writing_staged`` lets the writers write
the private temporary in place); nothing visible changes until ``commit``, which syncs the
temporaries together (``atomic.sync_files``) and renames them into place one after another. A failure before that removes only the
temporaries, so an earlier run's outputs are never touched. ``commit`` without ``--force`` links
each file in without replacing anything (a file that appeared meanwhile, say from a concurrent run,
stops it), and with ``--force`` replaces, keeping the replaced file aside until the whole set is
in. If commit fails halfway it undoes only what it did and still owns: a file another run has
replaced since is left alone, and a file ``--force`` replaced is put back.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Callable, Optional, Sequence, TypeVar

from clsm_cli.atomic import TEMPORARY_SUFFIX, sync_files, writing_staged
from clsm_cli.errors import OutputError
from clsm_cli.music.midi_write import write_output_bytes

T = TypeVar("T")


def make_out_dir(out_dir: Path) -> None:
    try:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"cannot create the output folder {out_dir} ({error.strerror or error})") from None


def check_targets(paths: Sequence[Path], input_path: Path, force: bool) -> None:
    """Refuse the whole set before writing any of it (see the module docstring). Each path is
    resolved and looked at once: two names are one file when they resolve alike or name one
    existing file (through a link), found by a lookup rather than by comparing every pair."""
    input_names = _file_names(input_path)
    seen: dict[object, Path] = {}
    for path in paths:
        names = _file_names(path)
        if names & input_names:
            raise OutputError(f"{path.name} is the input file itself; clsm never overwrites its input")
        if path.is_dir():
            raise OutputError(f"{path} is a folder; move it away or choose another --out")
        earlier = next((seen[name] for name in names if name in seen), None)
        if earlier is not None:
            raise OutputError(f"{path.name} and {earlier.name} are one file; one call cannot write both")
        seen.update(dict.fromkeys(names, path))
        if path.exists() and not force:
            raise OutputError(
                f"{path} already exists; use --force to overwrite it, or another --seed to write new files"
            )


def _file_names(path: Path) -> set:
    """What ``path`` is known by: its resolved path, and (device, inode) when the file exists."""
    names: set = {os.path.realpath(path)}
    try:
        status = os.stat(path)
    except OSError:
        return names  # not there yet: only the same path could be the same file
    names.add((status.st_dev, status.st_ino))
    return names


class OutputSet:
    """One call's output files, written to temporaries and renamed into place together (see above).

    ``with OutputSet(force) as outputs:`` ... ``outputs.add(path, data)`` ... commits when the block
    ends without an error and aborts (removes the temporaries) when it raises.
    """

    def __init__(self, force: bool = False) -> None:
        self.force = force
        self.staged: dict[Path, Path] = {}  # target -> its temporary, in the order added
        self.written: list[Path] = []  # targets in place after commit
        self._done = False  # committed or aborted
        self._unsynced: list[Path] = []  # temporaries written in place (atomic.writing_staged), synced at commit
        self._token = f"{os.getpid()}-{secrets.token_hex(4)}"

    def temporary_of(self, path: Path) -> Path:
        """Where ``path`` is written before commit (in its folder; atomic.py's temporary name form)."""
        path = Path(path)
        return path.with_name(f".{path.name}.{self._token}{TEMPORARY_SUFFIX}")

    def add(self, path: Path, data: bytes) -> Path:
        """Stage ``data`` as the content of ``path``; returns the temporary written."""
        return self.add_written(path, lambda temporary: write_output_bytes(temporary, data, force=False))

    def add_written(self, path: Path, write: Callable[[Path], T]) -> T:
        """Stage ``path`` by ``write(temporary)``, which writes the whole file there; returns what it returned."""
        path = Path(path)
        if path in self.staged:
            raise ValueError(f"{path.name} is already part of this output set")
        temporary = self.temporary_of(path)
        self.staged[path] = temporary
        with writing_staged(self._unsynced):  # the temporary is private: written in place, synced at commit
            return write(temporary)

    def commit(self) -> list[Path]:
        """Rename every temporary into place; OutputError (after undoing this commit) if one cannot be."""
        self._done = True
        try:
            sync_files(self._unsynced)
        except OSError as error:
            self._remove_temporaries()
            raise OutputError(f"cannot write the outputs in {next(iter(self.staged)).parent} "
                              f"({error.strerror or error}); this run kept none of its outputs") from None
        placed: list[tuple[Path, tuple[int, int], Optional[Path]]] = []  # target, its identity, what it replaced
        replaced = None
        try:
            for path, temporary in self.staged.items():
                replaced = None
                if self.force:
                    replaced = self._keep_aside(path)
                    os.replace(temporary, path)
                else:
                    try:
                        os.link(temporary, path)
                    except FileExistsError:
                        raise OutputError(f"{path} appeared while this run was writing (another run?); use --force "
                                          "to overwrite it; this run kept none of its outputs") from None
                    os.unlink(temporary)
                placed.append((path, _identity(path), replaced))
        except (OSError, OutputError) as error:
            if replaced is not None and (not placed or placed[-1][0] != path):
                replaced.unlink(missing_ok=True)  # kept aside for the file that failed, which was not replaced
            self._undo(placed)
            if isinstance(error, OutputError):
                raise
            raise OutputError(f"cannot put {path.name} in place in {path.parent} ({error.strerror or error}); "
                              "this run kept none of its outputs") from None
        finally:
            self._remove_temporaries()
        for _, _, replaced in placed:
            if replaced is not None:
                replaced.unlink(missing_ok=True)
        self.written = [path for path, _, _ in placed]
        return self.written

    def abort(self) -> None:
        """Remove every temporary; the targets were never touched."""
        self._done = True
        self._remove_temporaries()

    def _keep_aside(self, path: Path) -> Optional[Path]:
        """A second name for the file ``--force`` is about to replace, so that an undo can put it back."""
        aside = path.with_name(f".{path.name}.{self._token}.replaced{TEMPORARY_SUFFIX}")
        try:
            os.link(path, aside)
        except FileNotFoundError:
            return None
        except OSError:
            return None  # no hard links here: the replaced file cannot be kept, as before
        return aside

    def _undo(self, placed: Sequence[tuple[Path, tuple[int, int], Optional[Path]]]) -> None:
        for path, identity, replaced in reversed(placed):
            try:
                if _identity(path) != identity:
                    continue  # another run has replaced it since: not ours any more
                if replaced is not None:
                    os.replace(replaced, path)
                else:
                    path.unlink()
            except OSError:
                pass  # the error being raised says what went wrong; a leftover is the lesser harm

    def _remove_temporaries(self) -> None:
        for temporary in self.staged.values():
            temporary.unlink(missing_ok=True)

    def __enter__(self) -> "OutputSet":
        return self

    def __exit__(self, error_type, error, traceback) -> bool:
        if error_type is not None:
            self.abort()
        elif not self._done:
            self.commit()
        return False


def _identity(path: Path) -> tuple[int, int]:
    """(device, inode): which file a name holds now (0, 0 when it holds none)."""
    try:
        status = os.stat(path)
    except OSError:
        return (0, 0)
    return (status.st_dev, status.st_ino)
