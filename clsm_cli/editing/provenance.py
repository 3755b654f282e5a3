"""What an output records about itself, and reading it back, checked field by field.

The record (JSON after ``clsm-provenance ``) holds the model (name and weights digest), seed, bars,
decoding, the command line that repeats the edit, a generation count (edits of edits), the input
(as a path relative to the output's folder, never absolute, and the sha256 of its bytes) and the
latent ``w`` of each target chunk, as base64 text (:func:`w_to_text`): a later ``interpolate
--start/--end`` or ``vary --around`` reuses it exactly when the same model made it. The writer
stores it in a sequencer-specific meta event at tick 0 (``midi_write``), where notation programs
and DAWs do not show it; outputs of format 1 carried it in a text event, and still read.

A record read back is checked before anything uses it (:func:`record_problem`): a field of the
wrong type or value, or a latent that is not finite or implausibly large, makes it *damaged*.
:func:`read_provenance` keeps the good records and says why each damaged one was set aside.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np

from clsm_cli import __version__
from clsm_cli.editing.options import EditOptions, FileResult, Latent, reproduce_command
from clsm_cli.music.bars import BarRange
from clsm_cli.timebase import Grid

PROVENANCE_PREFIX = "clsm-provenance "  # how a record starts, in its meta event
PROVENANCE_FORMAT = 2  # 2: input relative to the output's folder with its sha256; 1: input as typed
LATENT_LIMIT = 100.0  # |w| above this is no latent a model made (W is about standard normal)
VERBS = ("infill", "interpolate", "vary", "explore")  # what outputs record: explore for the files it keeps


def w_to_text(w: np.ndarray) -> str:
    """A latent as base64 of its little-endian float32 bytes: exact, and short enough for a meta event."""
    return base64.b64encode(np.asarray(w, dtype="<f4").tobytes()).decode("ascii")


def w_from_text(text: str) -> np.ndarray:
    """The latent :func:`w_to_text` wrote; ValueError for text that is not one, or for a latent
    that is empty, not finite or larger than ``LATENT_LIMIT`` anywhere."""
    try:
        raw = base64.b64decode(str(text).encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise ValueError("is not base64 text") from None
    if not raw or len(raw) % 4:
        raise ValueError("does not hold whole float32 numbers")
    w = np.frombuffer(raw, dtype="<f4").astype(np.float32)
    if not np.all(np.isfinite(w)):
        raise ValueError("holds NaN or infinite numbers")
    if float(np.max(np.abs(w))) > LATENT_LIMIT:
        raise ValueError(f"holds numbers beyond ±{LATENT_LIMIT:g}, which no model makes")
    return w


def relative_to_folder(path: Path, folder: Path) -> str:
    """``path`` as seen from ``folder`` (``../songs/a.mid``): what a record stores instead of the
    path as typed, so an output never carries the user's absolute folders."""
    try:
        return Path(os.path.relpath(os.path.abspath(path), os.path.abspath(folder))).as_posix()
    except ValueError:  # another drive (Windows): no relative path exists; the name alone is private
        return Path(path).name


def provenance_record(result: FileResult, output_k: int, latents: Sequence[Latent], generation: int,
                      options: EditOptions, target_notes: Optional[Sequence[Sequence[int]]] = None,
                      input_sha256: Optional[str] = None) -> dict:
    """What an output records about itself (stored as JSON in one meta event).

    The input and the files of the command (``--start``, ``--end``, ``--around``) are recorded
    relative to the output folder ``options.out_dir``, never as absolute paths; ``input_sha256``
    is the input's content, so that a later command can tell the song was replaced.
    ``target_notes`` (``endpoints.target_note_rows``) are the notes written into the target bars,
    so that a later command can tell whether the file was edited by hand since.
    """
    def seen_from_outputs(path: Optional[Path]) -> Optional[Path]:
        return None if path is None else Path(relative_to_folder(Path(path), options.out_dir))

    relative = replace_files(options, seen_from_outputs)
    record = {
        "format": PROVENANCE_FORMAT,
        "clsm": __version__,
        "verb": result.verb,
        "model": result.model,
        "model_sha256": result.model_sha256,
        "grid": Grid(encoding=result.grid).as_dict(),
        "seed": result.seed,
        "bars": [result.bars.first, result.bars.last],
        "k": output_k,
        "temperature": result.decoding.temperature,
        "top_p": result.decoding.top_p,
        "octave_shift": result.octave_shift,
        "generation": generation,
        "command": reproduce_command(relative, seen_from_outputs(result.input)),
        "latents": [{"bars": [latent.bars.first, latent.bars.last], "w": w_to_text(latent.w)} for latent in latents],
        "input": relative_to_folder(Path(result.input), options.out_dir),
    }
    if input_sha256 is not None:
        record["input_sha256"] = input_sha256
    if target_notes is not None:
        record["target_notes"] = [[None if value is None else int(value) for value in row] for row in target_notes]
    return record


def replace_files(options: EditOptions, change: Callable[[Optional[Path]], Optional[Path]]) -> EditOptions:
    """``options`` with ``change`` applied to the files it names (``--start``, ``--end``, ``--around``)."""
    return replace(options, start_file=change(options.start_file), end_file=change(options.end_file),
                   around_file=change(options.around_file))


def provenance_text(record: dict) -> str:
    return PROVENANCE_PREFIX + json.dumps(record, separators=(",", ":"), sort_keys=True, ensure_ascii=True)


# --- reading records back ------------------------------------------------------------------------


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_count(value: object) -> bool:
    return _is_int(value) and value >= 0


def _is_number(value: object) -> bool:
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)


def _is_bar_pair(value: object) -> bool:
    return (isinstance(value, list) and len(value) == 2 and all(_is_int(bar) for bar in value)
            and 1 <= value[0] <= value[1])


def _is_note_row(value: object) -> bool:
    """[start, end, pitch, tied] steps from the target's start; pitch None for a hold of unknown pitch."""
    return (isinstance(value, list) and len(value) == 4
            and _is_int(value[0]) and _is_int(value[1]) and value[0] <= value[1]
            and (value[2] is None or (_is_int(value[2]) and 0 <= value[2] <= 127)) and value[3] in (0, 1))


def _is_sha256(value: object) -> bool:
    return isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)


# Every field a record may hold: how to check it, and what it must be (for the sentence).
_FIELDS: dict[str, tuple[Callable[[object], bool], str]] = {
    "format": (_is_count, "a whole number"),
    "clsm": (lambda v: isinstance(v, str), "text"),
    "verb": (lambda v: v in VERBS, "infill, interpolate, vary or explore"),
    "model": (lambda v: isinstance(v, str), "text"),
    "model_sha256": (lambda v: isinstance(v, str), "text"),
    "seed": (_is_count, "a whole number from 0"),
    "bars": (_is_bar_pair, "two bar numbers, first to last"),
    "k": (_is_count, "a whole number from 0"),
    "temperature": (lambda v: _is_number(v) and v >= 0, "a number from 0"),
    "top_p": (lambda v: _is_number(v) and 0 <= v <= 1, "a number from 0 to 1"),
    "octave_shift": (_is_int, "a whole number"),
    "generation": (_is_count, "a whole number from 0"),
    "command": (lambda v: isinstance(v, str), "text"),
    "input": (lambda v: isinstance(v, str) and v != "", "a path"),
    "input_sha256": (_is_sha256, "a sha256 digest"),
    "target_notes": (lambda v: isinstance(v, list) and all(_is_note_row(row) for row in v),
                     "rows of [start, end, pitch, tied] numbers"),
    "outputs": (_is_count, "a whole number from 0"),
    "latents": (lambda v: isinstance(v, list), "a list"),
}


def record_problem(record: object) -> Optional[str]:
    """Why a decoded record cannot be trusted ("its generation is not a whole number from 0"), or None.

    Known fields that are present must have the right type and value; ``latents`` must be there,
    each an object with its bars and a finite, plausible ``w``. Unknown fields are left alone.
    """
    if not isinstance(record, dict):
        return "it is not a JSON object"
    if "latents" not in record:
        return "it has no latents"
    for field, (check, wanted) in _FIELDS.items():
        if field in record and not check(record[field]):
            return f"its {field} is not {wanted}"
    for number, latent in enumerate(record["latents"], start=1):
        if not isinstance(latent, dict):
            return f"its latent {number} is not an object"
        if not _is_bar_pair(latent.get("bars")):
            return f"the bars of its latent {number} are not two bar numbers, first to last"
        try:
            w_from_text(latent.get("w") if isinstance(latent.get("w"), str) else "\0")
        except ValueError as error:
            return f"the w of its latent {number} {error}"
    return None


@dataclass(frozen=True)
class Provenance:
    """The clsm records among a file's texts: the good ones, and why each damaged one was set aside."""

    records: tuple[dict, ...]
    damaged: tuple[str, ...]

    def describe_damage(self, name: str) -> str:
        return f"{name} carries a damaged clsm record ({self.damaged[0]})"


def read_provenance(texts: Sequence[str]) -> Provenance:
    """Every clsm record among ``texts`` (others are skipped), checked by :func:`record_problem`."""
    records, damaged = [], []
    for text in texts:
        if not text.startswith(PROVENANCE_PREFIX):
            continue
        try:
            record = json.loads(text[len(PROVENANCE_PREFIX) :])
        except ValueError:
            damaged.append("it is not JSON")
            continue
        problem = record_problem(record)
        if problem is None:
            records.append(record)
        else:
            damaged.append(problem)
    return Provenance(tuple(records), tuple(damaged))


def parse_provenance(texts: Sequence[str]) -> list[dict]:
    """The good clsm records among a file's texts (others and damaged ones are skipped)."""
    return list(read_provenance(texts).records)


def next_generation(records: Sequence[dict]) -> int:
    """The generation of an edit of a file with these records (1 for a file clsm never wrote)."""
    return 1 + max((int(record.get("generation", 0)) for record in records), default=0)


def newest_record(records: Sequence[dict], bars: BarRange) -> Optional[dict]:
    """The record of the newest edit that touched ``bars`` (None when none did)."""
    touching = [record for record in records if _overlaps(record.get("bars", [0, 0]), bars)]
    return max(touching, key=lambda record: int(record.get("generation", 0))) if touching else None


def recorded_target_notes(records: Sequence[dict], bars: BarRange) -> Optional[list]:
    """The target notes the newest edit of exactly ``bars`` wrote (None if it did not record them)."""
    newest = newest_record(records, bars)
    if newest is None or list(newest.get("bars", [])) != [bars.first, bars.last]:
        return None
    notes = newest.get("target_notes")
    return notes if isinstance(notes, list) else None


def stored_latent(records: Sequence[dict], bars: BarRange, model_name: str, model_sha256: str,
                  z_dim: int) -> Optional[np.ndarray]:
    """The w a file stored for exactly these bars, if the newest edit touching them was this model's."""
    newest = newest_record(records, bars)
    if newest is None:
        return None
    if newest.get("model") != model_name or newest.get("model_sha256") != model_sha256:
        return None
    for latent in newest["latents"]:
        if list(latent.get("bars", [])) == [bars.first, bars.last]:
            try:
                w = w_from_text(str(latent["w"]))
            except (ValueError, KeyError):
                return None
            return w if w.shape == (int(z_dim),) else None
    return None


def _overlaps(record_bars: Sequence[int], bars: BarRange) -> bool:
    try:
        return int(record_bars[0]) <= bars.last and int(record_bars[1]) >= bars.first
    except (TypeError, ValueError, IndexError):
        return False
