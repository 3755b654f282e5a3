"""clsm: edit bars of a MIDI melody with a Contextual Latent Space Model (Akama, ISMIR 2021).

The public API is re-exported lazily so that ``import clsm_cli`` never imports torch:
``clsm_cli.load_engine`` (a model behind an inference engine), ``clsm_cli.infill``,
``clsm_cli.interpolate``, ``clsm_cli.vary`` (on one window, see ``editing/generate.py``) and
``clsm_cli.load_model`` (the torch model, for training and evaluation).
"""

__version__ = "0.1.0"

_LAZY_EXPORTS = {
    "load_model": ("clsm_cli.checkpoint", "load_model"),
    "load_engine": ("clsm_cli.engine.load", "load_engine"),
    "infill": ("clsm_cli.editing.generate", "infill"),
    "interpolate": ("clsm_cli.editing.generate", "interpolate"),
    "vary": ("clsm_cli.editing.generate", "vary"),
}

__all__ = ["__version__", *_LAZY_EXPORTS]


def __getattr__(name: str):
    if name in _LAZY_EXPORTS:
        import importlib

        module_name, attribute = _LAZY_EXPORTS[name]
        return getattr(importlib.import_module(module_name), attribute)
    raise AttributeError(f"module 'clsm_cli' has no attribute {name!r}")
