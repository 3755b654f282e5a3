"""Which code made a result: clsm's version and, in a source checkout, the git commit.

Training (``reproducibility.json``) and evaluation (``run.json``) record the same facts through
:func:`code_version`, so two records can be compared field by field.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Optional

from clsm_cli import __version__

SOURCE_ROOT = Path(__file__).resolve().parents[1]  # the checkout when clsm runs from one


def code_version() -> dict[str, Optional[object]]:
    """``{"clsm": version, "git_commit": sha or None, "git_dirty": bool or None}``.

    The commit and whether tracked files had local changes are None for an installed wheel or
    when git cannot answer within a few seconds.
    """
    version: dict[str, Optional[object]] = {"clsm": __version__, "git_commit": None, "git_dirty": None}
    if not (SOURCE_ROOT / ".git").exists():
        return version
    commit = _git("rev-parse", "HEAD")
    if commit is None:
        return version
    version["git_commit"] = commit.strip() or None
    status = _git("status", "--porcelain", "--untracked-files=no")
    version["git_dirty"] = bool(status.strip()) if status is not None else None
    return version


def _git(*arguments: str) -> Optional[str]:
    try:
        completed = subprocess.run(
            ["git", "-C", str(SOURCE_ROOT), *arguments], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return completed.stdout if completed.returncode == 0 else None
