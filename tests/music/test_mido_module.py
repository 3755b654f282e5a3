"""mido_module: mido imported without importlib.metadata, its version what importlib.metadata says,
and a plain import whenever mido's version.py is not the one the shortcut was written for."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from clsm_cli.music import mido_module
from clsm_cli.music.mido_module import installed_version


def _python(code: str, **env: str) -> str:
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, **env})
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def test_reading_midi_loads_no_importlib_metadata_and_mido_keeps_its_version():
    code = ("import sys\nimport clsm_cli.music.midi_read\nimport mido\n"
            "skipped = 'importlib.metadata' not in sys.modules\n"
            "import importlib.metadata, packaging.version\n"
            "real = importlib.metadata.version('mido')\n"
            "print(skipped, mido.version.__version__ == real, mido.version_info == packaging.version.Version(real))")
    assert _python(code) == "True True True"


def test_a_version_py_of_another_shape_is_imported_as_it_is(tmp_path):
    package = tmp_path / "mido"
    package.mkdir()
    (package / "__init__.py").write_text("from .version import version_info\n")
    (package / "version.py").write_text("version_info = (9, 9)\n")
    (tmp_path / "mido-9.9.dist-info").mkdir()
    (tmp_path / "mido-9.9.dist-info" / "METADATA").write_text("Name: mido\nVersion: 9.9\n")
    code = ("import sys\nfrom clsm_cli.music.mido_module import preload_version\nsys.modules.pop('mido', None)\n"
            "import mido\nprint(mido.version_info, sys.modules['mido.version'].__spec__ is not None)")
    assert _python(code, PYTHONPATH=str(tmp_path)) == "(9, 9) True"


def test_no_preload_once_mido_is_imported():
    assert "mido" in sys.modules  # importing mido_module imported it
    assert mido_module.preload_version() is False


def test_installed_version_reads_the_one_dist_info(tmp_path):
    assert installed_version(str(tmp_path), "mido") is None
    (tmp_path / "mido-1.3.3.dist-info").mkdir()
    (tmp_path / "mido-1.3.3.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: mido\nVersion: 1.3.3\n\nbody\n")
    assert installed_version(str(tmp_path), "mido") == "1.3.3"
    (tmp_path / "Mido-1.2.0.dist-info").mkdir()
    assert installed_version(str(tmp_path), "mido") is None  # two installs: which one imports is not known here


def test_installed_version_without_a_version_line(tmp_path):
    (tmp_path / "mido-1.0.dist-info").mkdir()
    (tmp_path / "mido-1.0.dist-info" / "METADATA").write_text("Name: mido\n\nVersion: 1.0 (in the body)\n")
    assert installed_version(str(tmp_path), "mido") is None
    assert installed_version(str(Path(tmp_path) / "missing"), "mido") is None
