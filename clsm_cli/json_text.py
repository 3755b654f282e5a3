"""JSON that every reader accepts: NaN and infinity (which ``json.dumps`` writes bare) become null.

Logs and records go through here, so a diverged loss or an undefined figure never makes a file
that strict JSON readers refuse.
"""

from __future__ import annotations

import json
import math
from typing import Any, Optional


def finite_or_none(value: Any) -> Any:
    """``value`` with every non-finite float replaced by None, recursively (tuples become lists)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: finite_or_none(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_none(item) for item in value]
    return value


def json_text(value: Any, indent: Optional[int] = None) -> str:
    """Strict JSON for ``value`` (anything else JSON cannot hold is written with ``str``)."""
    return json.dumps(finite_or_none(value), indent=indent, default=str, allow_nan=False)
