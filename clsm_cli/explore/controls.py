"""The values the ``s`` panel collects: the editing commands' decoding controls and the pool size.

Checked here (usage errors in one sentence, as the commands give them); handed to the one editing
call that draws candidates (``ExploreSession._draw``) as ``editing_arguments()``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from typing import Optional

from clsm_cli.errors import UsageError

_KEY = re.compile(r"^(auto|[A-Ga-g][#b]?(m|min|maj|major|minor)?)$")
_SPAN = re.compile(r"^(\d+)-(\d+)$")


@dataclass(frozen=True)
class EditControls:
    """``--key``, ``--range``, ``--keep-rhythm``, ``--max-leap``, ``--density`` and ``--pool`` as text
    or values; None is the editing layer's default."""

    key: Optional[str] = None  # "auto", "C", "Am", "F#m", ...
    range: Optional[str] = None  # "LOW-HIGH" MIDI pitches, or "any"
    keep_rhythm: bool = False
    max_leap: Optional[int] = None  # semitones
    density: Optional[str] = None  # "LOW-HIGH" notes per bar
    pool: Optional[int] = None  # candidates drawn per ranked batch

    def __post_init__(self):
        if self.key is not None and not _KEY.match(self.key):
            raise UsageError(f"key must be auto or a key such as C, Am or F#m, got {self.key!r}")
        if self.range is not None and self.range != "any":
            low, high = _span(self.range, "range")
            if not 0 <= low <= high <= 127:
                raise UsageError(f"range must be LOW-HIGH with MIDI pitches 0..127, LOW at most HIGH, got {self.range}")
        if self.max_leap is not None and not 1 <= self.max_leap <= 36:
            raise UsageError(f"max leap must be in range 1..36 semitones, got {self.max_leap}")
        if self.density is not None:
            low, high = _span(self.density, "density")
            if not 0 <= low <= high <= 32:
                raise UsageError(f"density must be LOW-HIGH notes per bar in 0..32, got {self.density}")
        if self.pool is not None and not 1 <= self.pool <= 256:
            raise UsageError(f"pool must be in range 1..256, got {self.pool}")

    @classmethod
    def from_text(cls, values: dict) -> "EditControls":
        """Controls from the panel's text fields (blank: the default)."""
        def text(name: str) -> Optional[str]:
            value = str(values.get(name) or "").strip()
            return value or None

        def number(name: str) -> Optional[int]:
            value = text(name)
            if value is None:
                return None
            try:
                return int(value)
            except ValueError:
                raise UsageError(f"{name.replace('_', ' ')} must be a whole number, got {value!r}") from None

        return cls(text("key"), text("range"), bool(values.get("keep_rhythm")), number("max_leap"), text("density"),
                   number("pool"))

    def editing_arguments(self) -> dict:
        """The controls set, by the editing commands' option names (``keep_rhythm`` for --keep-rhythm)."""
        return {field.name: getattr(self, field.name) for field in fields(self)
                if getattr(self, field.name) not in (None, False)}

    def request_arguments(self) -> dict:
        """The decoding controls set, parsed, by the editing layer's request fields (``key``,
        ``pitch_range`` as (low, high) or "any", ``keep_rhythm``, ``max_leap``, ``density`` as
        (low, high)); the pool size is :attr:`pool`."""
        arguments: dict = {}
        if self.key is not None:
            arguments["key"] = self.key
        if self.range is not None:
            arguments["pitch_range"] = "any" if self.range == "any" else _span(self.range, "range")
        if self.keep_rhythm:
            arguments["keep_rhythm"] = True
        if self.max_leap is not None:
            arguments["max_leap"] = self.max_leap
        if self.density is not None:
            arguments["density"] = tuple(float(value) for value in _span(self.density, "density"))
        return arguments

    def describe(self) -> str:
        arguments = self.editing_arguments()
        return ", ".join(f"{name.replace('_', ' ')} {value}" if value is not True else name.replace("_", " ")
                         for name, value in arguments.items()) or "defaults"


def _span(text: str, name: str) -> tuple[int, int]:
    match = _SPAN.match(text.strip())
    if not match:
        raise UsageError(f"{name} must be LOW-HIGH, e.g. 60-79, got {text!r}")
    return int(match.group(1)), int(match.group(2))
