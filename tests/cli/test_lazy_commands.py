"""The app registers its command groups lazily: a command imports only its own module, and
``clsm --help`` still lists every command (issue 27, item 11)."""

from __future__ import annotations

import importlib
import subprocess
import sys

import typer
from typer.testing import CliRunner

from clsm_cli.cli.app import APP_SETTINGS, COMMAND_MODULES, app

OTHER_COMMAND_MODULES = ("clsm_cli.cli.train", "clsm_cli.cli.evaluate", "clsm_cli.cli.explore", "clsm_cli.cli.data",
                         "clsm_cli.cli.export", "clsm_cli.cli.models", "clsm_cli.cli.show")


def _registered_names(module_name: str) -> set[str]:
    module_app = typer.Typer(**APP_SETTINGS)
    importlib.import_module(f"clsm_cli.cli.{module_name}").register(module_app)
    return {info.name for info in module_app.registered_commands} | {info.name for info in module_app.registered_groups}


def test_each_module_registers_exactly_the_commands_the_app_maps_to_it():
    for module_name in set(COMMAND_MODULES.values()):
        expected = {name for name, module in COMMAND_MODULES.items() if module == module_name}
        assert _registered_names(module_name) == expected, module_name


def test_help_lists_every_command_in_order():
    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0
    listed = [line.split()[1] for line in result.stdout.splitlines()
              if line.startswith("│ ") and len(line.split()) > 2 and line.split()[1] in COMMAND_MODULES]
    assert listed == list(COMMAND_MODULES)


def test_a_typo_still_gets_a_suggestion():
    result = CliRunner().invoke(app, ["infll"])
    assert result.exit_code == 2 and "Did you mean 'infill'" in result.output


def test_a_command_imports_only_its_own_module():
    code = ("import sys\nfrom clsm_cli.cli.app import main\nsys.argv = ['clsm', 'infill', '--help']\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            f"print(sorted(name for name in {OTHER_COMMAND_MODULES!r} if name in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"
