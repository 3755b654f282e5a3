"""Consoles and the one error path shared by every command module.

Results for people go to stdout, messages and progress to stderr, so ``--json`` output stays clean.
Colour and every other escape code are off when the stream is not a terminal or ``NO_COLOR`` is set.
Command modules import from here (not from ``app.py``), so any of them can be imported on its own.
"""

from __future__ import annotations

import functools
import gc
import os
from typing import Callable, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from clsm_cli.errors import ClsmError


def _console(stderr: bool) -> Console:
    # Rich's own NO_COLOR handling removes colours but keeps bold and dim, which are still escape
    # codes on a terminal; a console without a colour system writes none at all. Without emoji codes
    # a file name like "a:smile:b.mid" prints as it is, and rich never loads its emoji table.
    if os.environ.get("NO_COLOR"):
        return Console(stderr=stderr, highlight=False, color_system=None, emoji=False)
    return Console(stderr=stderr, highlight=False, emoji=False)


def stdout_console() -> Console:
    """Results for people (piano rolls, tables)."""
    return _console(stderr=False)


def stderr_console() -> Console:
    """Messages, warnings and progress bars."""
    return _console(stderr=True)


def escape_markup(text: str) -> str:
    """Text shown verbatim by rich (file names may contain ``[``)."""
    return escape(text)


def warn(message: str) -> None:
    stderr_console().print(f"[yellow]warning:[/yellow] {escape_markup(message)}", soft_wrap=True)


def error_line(message: str) -> None:
    stderr_console().print(f"[bold red]error:[/bold red] {escape_markup(message)}", soft_wrap=True)


def resume_garbage_collection() -> None:
    """Once a quick command's modules are imported: the cyclic garbage collector, paused by
    ``app.run`` over the imports, runs again, the objects made so far moved out of its reach
    (``gc.freeze``: modules, functions and classes that live as long as the process). Nothing when
    it was not paused (a command run in-process, as the tests do)."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()


CommandFunction = TypeVar("CommandFunction", bound=Callable)


def reports_errors(command: CommandFunction) -> CommandFunction:
    """Decorator for commands: a ClsmError becomes one line on stderr and its exit code."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except ClsmError as error:
            error_line(error.message)
            raise typer.Exit(error.exit_code) from None

    return wrapper  # type: ignore[return-value]
