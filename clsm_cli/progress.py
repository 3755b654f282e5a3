"""How long-running library work reports progress, without knowing who shows it.

``clsm data build``, ``clsm train`` and ``clsm evaluate`` take a :class:`Progress`: the command
passes one that draws rich bars on stderr (``cli/progress.py``), tests and benchmarks pass
:class:`SilentProgress`. A task is one bar: ``advance`` moves it, ``update`` sets its position and a
short status text (loss, speed); ``message`` prints a line above the bars.
"""

from __future__ import annotations

from typing import Optional, Protocol


class ProgressTask(Protocol):
    def advance(self, count: int = 1) -> None:
        """Move the bar ``count`` units on."""

    def update(self, completed: Optional[int] = None, status: Optional[str] = None, total: Optional[int] = None) -> None:
        """Set the bar's position, its status text or its total (None keeps each)."""


class Progress(Protocol):
    def task(self, description: str, total: Optional[int], completed: int = 0) -> ProgressTask:
        """A new bar of ``total`` units (None: unknown yet), starting at ``completed``."""

    def message(self, text: str) -> None:
        """One line for the person watching (printed above the bars), plain text."""


class _SilentTask:
    def advance(self, count: int = 1) -> None:
        pass

    def update(self, completed: Optional[int] = None, status: Optional[str] = None, total: Optional[int] = None) -> None:
        pass


class SilentProgress:
    """Reports nothing (tests, benchmarks, and every rank but the first in distributed training)."""

    def task(self, description: str, total: Optional[int], completed: int = 0) -> ProgressTask:
        return _SilentTask()

    def message(self, text: str) -> None:
        pass
