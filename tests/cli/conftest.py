"""Shared fixtures for CLI tests: a CliRunner with a fixed, colour-free environment.

``run_clsm("show", "song.mid", "--bars", "3-4")`` invokes the real Typer app in-process and returns
click's ``Result`` (``exit_code``, ``stdout``, ``stderr``, ``output``). The environment is pinned so
results do not depend on the developer's terminal: 100 columns, no FORCE_COLOR / NO_COLOR unless a
test passes ``env={...}`` (a value of None removes a variable).
"""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

BASE_ENV = {"COLUMNS": "100", "LINES": "50", "FORCE_COLOR": None, "NO_COLOR": None, "TERM": "xterm-256color"}


@pytest.fixture
def cli_runner() -> CliRunner:
    return CliRunner(env=dict(BASE_ENV))


@pytest.fixture
def run_clsm(cli_runner):
    from clsm_cli.cli.app import app

    def run(*args: str, env: dict[str, str | None] | None = None):
        return cli_runner.invoke(app, [str(arg) for arg in args], env={**BASE_ENV, **(env or {})})

    return run
