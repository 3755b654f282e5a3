"""One way to write a file so that a reader never sees half of it: temp file, fsync, rename.

Every writer of the tool (MIDI outputs, WAVs, model folders, training state, logs, evaluation
tables) goes through :func:`atomic_write`. The temporary file lives in the destination's folder (a
rename across file systems is not atomic) and is named ``.<name>.<random>.tmp`` so that a killed
write leaves something :func:`remove_stale_temporaries` recognises and removes.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from contextvars import ContextVar
from pathlib import Path
from typing import Callable, Iterator, Optional, Sequence, Union

TEMPORARY_SUFFIX = ".tmp"

Writer = Callable[[Path], None]  # writes the whole content to the path it is given
_STAGED: ContextVar[Optional[list[Path]]] = ContextVar("clsm_staged_writes", default=None)  # see writing_staged


def atomic_write(path: Union[str, Path], content: Union[bytes, str, Writer], *, overwrite: bool = True) -> Path:
    """Write ``content`` (bytes, text, or a function that writes a path) to ``path`` atomically.

    With ``overwrite=False`` the final step is a hard link, which fails if ``path`` appeared in the
    meantime: :class:`FileExistsError` is raised and nothing is replaced. On a file system without
    hard links it falls back to a rename after checking that the name is still free. OSErrors
    propagate; callers turn them into their own domain error with a sentence.
    """
    path = Path(path)
    staged = _STAGED.get()
    if staged is not None and not overwrite:
        _write_new(path, content)
        staged.append(path)
        return path
    handle, temporary_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMPORARY_SUFFIX)
    temporary = Path(temporary_name)
    try:
        if callable(content):
            os.close(handle)
            content(temporary)
        else:
            data = content.encode("utf-8") if isinstance(content, str) else content
            with os.fdopen(handle, "wb") as stream:
                stream.write(data)
        with open(temporary, "rb+") as stream:
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o666 & ~_current_umask())  # mkstemp makes 0600; outputs are ordinary files
        if overwrite:
            os.replace(temporary, path)
        else:
            _link_without_overwrite(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path


@contextlib.contextmanager
def writing_staged(written: list[Path]) -> Iterator[None]:
    """Inside the block, :func:`atomic_write` with ``overwrite=False`` writes its (new) path directly,
    without a temporary of its own or an fsync, and adds it to ``written``. For a caller whose paths
    are already private temporaries that no reader opens (``editing/outputs.OutputSet``): it syncs
    them all with :func:`sync_files` before it renames them into place."""
    token = _STAGED.set(written)
    try:
        yield
    finally:
        _STAGED.reset(token)


def sync_files(paths: Sequence[Path]) -> None:
    """fsync every file of ``paths``, side by side (one thread each): a file system commits syncs
    that arrive together at once, where one after another each waits for its own commit."""
    errors: list[OSError] = []

    def sync(path: Path) -> None:
        try:
            with open(path, "rb+") as stream:
                os.fsync(stream.fileno())
        except OSError as error:
            errors.append(error)

    threads = [threading.Thread(target=sync, args=(path,), daemon=True) for path in paths[1:]]
    for thread in threads:
        thread.start()
    if paths:
        sync(paths[0])
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def _write_new(path: Path, content: Union[bytes, str, Writer]) -> None:
    """``content`` written to ``path``, which must not exist yet (FileExistsError otherwise)."""
    if callable(content):
        if os.path.lexists(path):
            raise FileExistsError(path)
        content(path)
        return
    data = content.encode("utf-8") if isinstance(content, str) else content
    with open(path, "xb") as stream:
        stream.write(data)


def remove_stale_temporaries(folder: Union[str, Path], name: str) -> list[Path]:
    """Remove temporaries that killed writes of ``folder/name`` left behind; returns what went."""
    folder = Path(folder)
    removed = []
    for leftover in folder.glob(f".{name}.*{TEMPORARY_SUFFIX}"):
        try:
            leftover.unlink()
            removed.append(leftover)
        except OSError:
            pass
    return removed


def _link_without_overwrite(temporary: Path, path: Path) -> None:
    try:
        os.link(temporary, path)
    except FileExistsError:
        raise
    except OSError:
        if path.exists() or path.is_symlink():
            raise FileExistsError(path) from None
        os.replace(temporary, path)  # a file system without hard links


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_output(path: Union[str, Path], content: Union[bytes, str, Writer], force: bool) -> Path:
    """:func:`atomic_write` for a user's output file: an existing file only with ``force``, and every
    failure an ``OutputError`` (exit 5) in one sentence."""
    from clsm_cli.errors import OutputError

    path = Path(path)
    try:
        return atomic_write(path, content, overwrite=force)
    except FileExistsError:
        raise OutputError(f"{path} already exists; use --force to overwrite it") from None
    except OSError as error:
        raise OutputError(
            f"cannot write to the folder {path.parent} ({error.strerror or error}); {path.name} was not written"
        ) from None
