"""Where torch runs: the one function that turns ``--device auto|cpu|cuda`` into a device name.

``train``, ``evaluate`` and the editing commands' torch engine all choose their device here, so the
three agree on what ``auto`` means and on the sentence for a missing GPU.
"""

from __future__ import annotations

from clsm_cli.errors import UsageError

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def choose_device(request: str) -> str:
    """``"cpu"`` or ``"cuda"`` for ``--device request``: auto is CUDA when present, else the CPU.

    Asking for CUDA on a machine without a CUDA device is a UsageError (exit 2), as is any other
    word. Imports torch (only the torch paths need a device).
    """
    if request not in DEVICE_CHOICES:
        raise UsageError(f"--device must be auto, cpu or cuda, got '{request}'")
    if request == "cpu":
        return "cpu"
    import torch

    available = torch.cuda.is_available()
    if request == "cuda" and not available:
        raise UsageError("--device cuda was asked for, but this machine has no CUDA device; use --device cpu")
    return "cuda" if available else "cpu"
