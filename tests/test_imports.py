"""The package's import graph has no cycle, keeps its layers, and has no module over 500 lines
(``scripts/check_imports.py``)."""

import subprocess
import sys
from pathlib import Path

CHECKER = Path(__file__).resolve().parent.parent / "scripts" / "check_imports.py"


def check(package: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(CHECKER), "--package", str(package)], capture_output=True, text=True)


def test_clsm_cli_has_no_import_cycle_no_broken_layer_and_no_oversized_module():
    result = check(CHECKER.parent.parent / "clsm_cli")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no import cycles; no layer rule broken; no module over 500 lines" in result.stdout


def test_each_layer_rule_is_reported(tmp_path):
    package = tmp_path / "clsm_cli"
    for folder in ("models", "editing", "music", "engine", "eval"):
        (package / folder).mkdir(parents=True)
        (package / folder / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "constants.py").write_text("X = 1\n")
    (package / "errors.py").write_text("")
    (package / "engine" / "run.py").write_text("")
    (package / "eval" / "metrics.py").write_text("")
    (package / "models" / "clsm.py").write_text("def f():\n    from clsm_cli.engine import run\n")
    (package / "editing" / "verbs.py").write_text("from ..eval.metrics import *\n")
    (package / "music" / "tokens.py").write_text("import clsm_cli.models.clsm\n")
    (package / "timebase.py").write_text("from clsm_cli import constants, errors\nfrom clsm_cli.music import tokens\n")
    result = check(package)
    assert result.returncode == 1
    assert "clsm_cli.models.clsm imports clsm_cli.engine.run (models must not import engine)" in result.stdout
    assert "clsm_cli.editing.verbs imports clsm_cli.eval.metrics (editing must not import eval)" in result.stdout
    assert "clsm_cli.music.tokens imports clsm_cli.models.clsm (music must not import models)" in result.stdout
    assert "clsm_cli.timebase imports clsm_cli.music.tokens (timebase imports only constants, errors)" in result.stdout
    assert "clsm_cli.timebase imports clsm_cli.constants" not in result.stdout
    assert result.stdout.count("layer rule broken") == 4


def test_lazy_type_checking_and_relative_imports_close_a_cycle(tmp_path):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "a.py").write_text("def f():\n    from pkg.sub import b\n")
    (package / "sub" / "b.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from . import c\n")
    (package / "sub" / "c.py").write_text("from ..a import f\n" + "x = 1\n" * 501)
    (package / "d.py").write_text("import pkg.a\n")
    result = check(package)
    assert result.returncode == 1
    assert "cycle among 3 modules: pkg.a -> pkg.sub.b -> pkg.sub.c -> pkg.a" in result.stdout
    assert "pkg/sub/c.py: 502 lines (limit 500)" in result.stdout
