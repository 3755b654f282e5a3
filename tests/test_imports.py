"""The package's import graph has no cycle and no module over 500 lines (``scripts/check_imports.py``)."""

import subprocess
import sys
from pathlib import Path

CHECKER = Path(__file__).resolve().parent.parent / "scripts" / "check_imports.py"


def check(package: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(CHECKER), "--package", str(package)], capture_output=True, text=True)


def test_clsm_cli_has_no_import_cycle_and_no_oversized_module():
    result = check(CHECKER.parent.parent / "clsm_cli")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no import cycles; no module over 500 lines" in result.stdout


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
