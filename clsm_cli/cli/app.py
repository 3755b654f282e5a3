"""The ``clsm`` Typer app: command registration, consoles, and the one error path.

Every command module under ``clsm_cli.cli`` exposes ``register(app)``. The app registers them
lazily (:class:`LazyCommandGroup`): a run imports only the module of the command it runs, so
``clsm infill`` never imports the training, evaluation or explore modules; ``clsm --help`` imports
them all to list every command with its help. This module imports none of torch, so ``clsm --help``,
``clsm --version`` and ``clsm show`` stay fast.
"""

from __future__ import annotations

import atexit
import gc
import importlib
import os
import sys
from typing import TYPE_CHECKING, Optional

import typer
import typer.main
from typer.core import TyperGroup

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

if TYPE_CHECKING:
    from typer import _click as click  # the click that typer vendors

# Command name -> the module under clsm_cli.cli whose register(app) defines it, in the order
# `clsm --help` lists them (tests/cli/test_lazy_commands.py checks each module registers its names).
COMMAND_MODULES = {
    "show": "show", "infill": "edit", "interpolate": "edit", "vary": "edit", "explore": "explore",
    "export": "export", "models": "models", "train": "train", "evaluate": "evaluate", "data": "data",
}

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

APP_SETTINGS = dict(rich_markup_mode="rich", pretty_exceptions_enable=False)


def module_commands(module_name: str, only: Optional[str] = None) -> dict[str, click.Command]:
    """The click commands (and groups) that ``clsm_cli.cli.<module_name>``'s ``register`` defines
    (with ``only``: just that command, and the module's groups), built as the app builds its own."""
    module_app = typer.Typer(**APP_SETTINGS)
    importlib.import_module(f"clsm_cli.cli.{module_name}").register(module_app)
    if only is not None:  # building a command reads every option of its function: build just the one run
        module_app.registered_commands[:] = [info for info in module_app.registered_commands if info.name == only]
    return dict(typer.main.get_group(module_app).commands)


class LazyCommandGroup(TyperGroup):
    """The root group: it imports a command's module when that command is looked up, not before."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMAND_MODULES)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in COMMAND_MODULES and cmd_name not in self.commands:
            self.commands.update(module_commands(COMMAND_MODULES[cmd_name], only=cmd_name))
        elif cmd_name not in COMMAND_MODULES:  # every module, so "did you mean" suggestions see every command
            for module_name in dict.fromkeys(COMMAND_MODULES.values()):
                for name, command in module_commands(module_name).items():
                    self.commands.setdefault(name, command)
        return self.commands.get(cmd_name)


app = typer.Typer(
    name="clsm",
    cls=LazyCommandGroup,
    **APP_SETTINGS,
    help=HELP,
    no_args_is_help=True,
    add_completion=False,
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


# Commands that run in well under a second and write every file through a closed handle: they run
# with the cyclic garbage collector paused over their imports, and end without the interpreter's
# teardown (see run).
QUICK_COMMANDS = frozenset({"show", "infill", "interpolate", "vary", "export", "models"})


def run() -> None:
    """The console script and ``python -m clsm_cli``: :func:`main`, then, after one of the
    QUICK_COMMANDS with no exit handler registered (``--jobs`` registers multiprocessing's), no
    profiler or tracer watching (they write their reports at exit) and clsm the process's program,
    ``os._exit`` once stdout and stderr are flushed. Tearing the interpreter down, every module and
    object freed one by one, costs an edit about 15 ms and changes nothing it wrote.

    A quick command starts with the cyclic garbage collector paused: imports make tens of thousands
    of objects that live as long as the process, and collecting among them cost an edit about 10 ms.
    The editing commands resume it once their modules are in (``console.resume_garbage_collection``);
    the others end first. ``python -m clsm_cli`` pauses it before this module's own imports."""
    gc.disable() if _command() in QUICK_COMMANDS else gc.enable()
    try:
        main()
        code: object = 0
    except SystemExit as exit_request:
        code = exit_request.code
    if not _may_exit_at_once():
        raise SystemExit(code)
    if code is None:
        code = 0
    elif not isinstance(code, int):
        sys.stderr.write(f"{code}\n")
        code = EXIT_BUG
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):  # a closed pipe: leave as usual, which reports it
        raise SystemExit(code) from None
    os._exit(code)


def _command() -> Optional[str]:
    """The command named on the command line (the root takes no option with a value)."""
    return next((argument for argument in sys.argv[1:] if not argument.startswith("-")), None)


def _may_exit_at_once() -> bool:
    command = _command()
    count_handlers = getattr(atexit, "_ncallbacks", None)  # CPython's; elsewhere: leave as usual
    watched = sys.getprofile() is not None or sys.gettrace() is not None  # cProfile, coverage, a debugger
    return (command in QUICK_COMMANDS and count_handlers is not None and count_handlers() == 0 and not watched
            and _is_the_program())


def _is_the_program() -> bool:
    """True when clsm is the process's program: ``python -m clsm_cli``, or a script that calls
    :func:`run` (the console script), not a program that runs clsm's main module and goes on."""
    program = sys.modules.get("__main__")
    spec = getattr(program, "__spec__", None)
    return (spec is not None and spec.name == "clsm_cli.__main__") or getattr(program, "run", None) is run


if __name__ == "__main__":
    run()
