"""Stopping a run politely: Ctrl-C (SIGINT) or ``kill`` / a scheduler (SIGTERM).

The first signal asks the loop to finish the current step, write a checkpoint and save the model;
a second one stops at once. The signal is remembered (``StopRequest.signal``), so that ``clsm train``
can exit 128 + its number (143 for SIGTERM) after saving: a scheduler tells it from a finished run.
"""

from __future__ import annotations

import signal

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequest:
    def __init__(self):
        self.requested = False
        self.signal: int | None = None  # the signal that asked to stop
        self._previous: dict = {}

    def install(self) -> None:
        for signum in STOP_SIGNALS:
            try:
                self._previous[signum] = signal.signal(signum, self._handle)
            except ValueError:  # not the main thread (e.g. inside a test runner thread)
                pass

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        self.signal = int(signum)

    def uninstall(self) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous = {}
