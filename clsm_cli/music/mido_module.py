"""mido, imported without loading ``importlib.metadata`` just for mido's version string.

mido's ``version.py`` asks ``importlib.metadata`` for mido's version: about 10 ms of imports (email,
zipfile, csv...) in every editing command, for a string nothing in clsm reads. Before mido is first
imported, :func:`preload_version` makes ``mido.version`` from the ``Version:`` line of mido's
installed ``METADATA`` (the line importlib.metadata reads). It steps aside, and mido imports as
usual, whenever anything differs from what it was written for: mido already imported, a
``version.py`` that does not read its version that way, not exactly one ``mido-*.dist-info``
beside the package. ``tests/music/test_mido_module.py`` checks both ways against importlib.metadata.

The modules of ``music`` that use mido import it from here: ``from clsm_cli.music.mido_module import mido``.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import types
from typing import Optional

# What mido's version.py (1.2.10 to 1.3.x at least) does; another version.py is imported as it is.
VERSION_SOURCE_MARKERS = ('importlib_metadata.version("mido")', "version_info = packaging.version.Version(__version__)")


def preload_version() -> bool:
    """Put a ``mido.version`` module in ``sys.modules`` (see the module docstring); True if it did."""
    if "mido" in sys.modules or "mido.version" in sys.modules:
        return False
    spec = importlib.util.find_spec("mido")
    if spec is None or spec.origin is None or not spec.submodule_search_locations:
        return False
    package = os.path.dirname(spec.origin)
    try:
        with open(os.path.join(package, "version.py"), encoding="utf-8") as source:
            text = source.read()
    except OSError:
        return False
    if not all(marker in text for marker in VERSION_SOURCE_MARKERS):
        return False
    version = installed_version(os.path.dirname(package), "mido")
    if version is None:
        return False
    import packaging.version

    try:
        version_info = packaging.version.Version(version)
    except packaging.version.InvalidVersion:
        return False
    module = types.ModuleType("mido.version")
    module.__file__ = os.path.join(package, "version.py")
    module.__version__ = version  # type: ignore[attr-defined]
    module.version_info = version_info  # type: ignore[attr-defined]
    sys.modules["mido.version"] = module
    return True


def installed_version(site_directory: str, name: str) -> Optional[str]:
    """The ``Version:`` of the one ``<name>-*.dist-info`` in ``site_directory`` (None: none, several,
    or no such line)."""
    prefix = f"{name.lower()}-"
    try:
        found = [entry.path for entry in os.scandir(site_directory)
                 if entry.name.lower().startswith(prefix) and entry.name.endswith(".dist-info")]
    except OSError:
        return None
    if len(found) != 1:
        return None
    try:
        with open(os.path.join(found[0], "METADATA"), encoding="utf-8") as metadata:
            for line in metadata:
                if line.startswith("Version:"):
                    return line.split(":", 1)[1].strip() or None
                if not line.strip():
                    return None  # the headers end at the first blank line
    except OSError:
        return None
    return None


preload_version()
import mido  # noqa: E402 - after the preload, by design

if "mido.version" in sys.modules and not hasattr(mido, "version"):
    mido.version = sys.modules["mido.version"]  # what a normal import binds on the package

__all__ = ["mido", "preload_version", "installed_version"]
