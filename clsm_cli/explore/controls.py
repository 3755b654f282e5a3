"""The values the ``s`` panel collects: the editing commands' decoding controls and the pool size.

Parsed and checked by the editing layer's own rules (``editing/controls.py``: ``parse_range``,
``parse_density``, ``check_controls``), so a bad or impossible setting is the sentence ``infill``
gives for it; the session hands :meth:`EditControls.request` to the pool it draws
(``ExploreSession``), as ``infill`` hands its ``--key``/``--range``/... options.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Optional

from clsm_cli.editing.controls import ControlRequest, check_controls, parse_density, parse_range
from clsm_cli.errors import UsageError


@dataclass(frozen=True)
class EditControls:
    """``--key``, ``--range``, ``--keep-rhythm``, ``--max-leap``, ``--density`` and ``--pool`` as the
    panel holds them (text as the options take it); None is the editing layer's default."""

    key: Optional[str] = None  # "auto", "G", "Em", "E dorian", ...
    range: Optional[str] = None  # "LOW-HIGH" as notes or numbers (G3-E6, 55-88), or "any"
    keep_rhythm: bool = False
    max_leap: Optional[int] = None  # semitones
    density: Optional[str] = None  # "LOW-HIGH" notes per bar
    pool: Optional[int] = None  # candidates drawn before ranking (None: infill's default)

    def __post_init__(self):
        check_controls(self.request())  # infill's sentences, exit 2, before anything is drawn
        if self.pool is not None and self.pool < 1:
            raise UsageError(f"--pool must be at least 1, got {self.pool}")

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
                raise UsageError(f"--{name.replace('_', '-')} must be a whole number, got {value!r}") from None

        return cls(text("key"), text("range"), bool(values.get("keep_rhythm")), number("max_leap"), text("density"),
                   number("pool"))

    def request(self) -> ControlRequest:
        """The decoding controls as ``infill`` builds them from its options (cli/edit.py)."""
        key = "auto" if self.key is not None and self.key.strip().lower() == "auto" else self.key
        return ControlRequest(key, parse_range(self.range), self.keep_rhythm, self.max_leap, parse_density(self.density))

    def editing_arguments(self) -> dict:
        """The controls set, by the editing commands' option names (``keep_rhythm`` for --keep-rhythm)."""
        return {field.name: getattr(self, field.name) for field in fields(self)
                if getattr(self, field.name) not in (None, False)}

    def describe(self) -> str:
        arguments = self.editing_arguments()
        return ", ".join(f"{name.replace('_', ' ')} {value}" if value is not True else name.replace("_", " ")
                         for name, value in arguments.items()) or "defaults"
