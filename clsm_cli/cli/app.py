"""The ``clsm`` Typer app: command registration, consoles, and the one error path.

Every command module under ``clsm_cli.cli`` exposes ``register(app)``; this module imports none of
torch, so ``clsm --help``, ``clsm --version`` and ``clsm show`` stay fast.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Optional

import typer

from clsm_cli import __version__
from clsm_cli.cli.console import (  # noqa: F401 - re-exported for command modules
    error_line,
    escape_markup,
    reports_errors,
    stderr_console,
    stdout_console,
    warn,
)
from clsm_cli.errors import EXIT_BUG, ClsmError

# Command groups, in the order `clsm --help` lists them. Each module defines register(app).
COMMAND_MODULES = ("show", "edit", "explore", "export", "models", "data", "train", "evaluate")

HELP = """\
Edit bars of a MIDI melody with a Contextual Latent Space Model (Akama, ISMIR 2021).

Only the bars you choose change; everything else in the file stays exactly as it was.

[bold]Examples[/bold]

  clsm show song.mid --bars 3-4              tracks, meter and a piano roll
  clsm infill song.mid --bars 3-4            4 new versions of bars 3-4
  clsm interpolate song.mid --bars 3-4 --steps 8
  clsm vary song.mid --bars 5-6 --amount 0.3
  clsm infill songs/*.mid --bars 5-6 --json  batch edit, one JSON line per file
  clsm explore song.mid --bars 3-4           hear, keep and walk between candidates
"""

app = typer.Typer(
    name="clsm",
    help=HELP,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"clsm {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Optional[bool] = typer.Option(
        None, "--version", callback=_version_callback, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Root options (see the app help above)."""


for _module_name in COMMAND_MODULES:
    importlib.import_module(f"clsm_cli.cli.{_module_name}").register(app)


def main() -> None:
    """Console-script entry point: a bug gets one line and exit code 1, never a dump of locals."""
    # Idle OpenMP threads should sleep, not spin: on a busy CPU (a DAW, a build) spinning threads
    # made decoding 15-100x slower. Must be set before torch is imported (lazily, by commands).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        app()
    except SystemExit:
        raise
    except KeyboardInterrupt:
        error_line("interrupted")
        sys.exit(130)
    except ClsmError as error:  # raised outside a command (should not happen, but stay polite)
        error_line(error.message)
        sys.exit(error.exit_code)
    except Exception as error:  # noqa: BLE001 - the last line of defence
        error_line(f"internal error ({type(error).__name__}: {error}); this is a bug in clsm, please report it")
        sys.exit(EXIT_BUG)


if __name__ == "__main__":
    main()
