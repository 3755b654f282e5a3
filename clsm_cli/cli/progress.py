"""Rich progress bars on stderr behind the library's :class:`clsm_cli.progress.Progress` protocol."""

from __future__ import annotations

from typing import Optional

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from clsm_cli.cli.console import escape_markup, stderr_console


class _RichTask:
    def __init__(self, display: Progress, task_id):
        self._display = display
        self._task_id = task_id

    def advance(self, count: int = 1) -> None:
        self._display.advance(self._task_id, count)

    def update(self, completed: Optional[int] = None, status: Optional[str] = None, total: Optional[int] = None) -> None:
        changes = {}
        if completed is not None:
            changes["completed"] = completed
        if status is not None:
            changes["status"] = escape_markup(status)
        if total is not None:
            changes["total"] = total
        self._display.update(self._task_id, **changes)


class RichProgress:
    """Bars with description, count, status text and times; use as a context manager.

    The display starts with the first bar, so a command that fails before any work prints only
    its error.
    """

    def __init__(self, console=None):
        self.console = console or stderr_console()
        self._display = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(), TimeRemainingColumn(), console=self.console,
        )
        self._started = False

    def task(self, description: str, total: Optional[int], completed: int = 0) -> _RichTask:
        if not self._started:
            self._display.start()
            self._started = True
        return _RichTask(self._display, self._display.add_task(escape_markup(description), total=total, completed=completed, status=""))

    def message(self, text: str) -> None:
        self._display.console.print(escape_markup(text), highlight=False, soft_wrap=True)

    def __enter__(self) -> "RichProgress":
        return self

    def __exit__(self, *exc) -> None:
        if self._started:
            self._display.stop()
            self._started = False
