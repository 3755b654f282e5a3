"""What an output records about itself, in one text meta event, and reading it back.

The record (JSON after ``clsm-provenance ``) holds the model (name and weights digest), seed, bars,
decoding, the command line that repeats the edit, a generation count (edits of edits) and the
latent ``w`` of each target chunk, as base64 text (:func:`w_to_text`): a later ``interpolate
--start/--end`` or ``vary --around`` reuses it exactly when the same model made it.
"""

from __future__ import annotations

import base64
import json
from typing import Optional, Sequence

import numpy as np

from clsm_cli import __version__
from clsm_cli.editing.options import EditOptions, FileResult, Latent, reproduce_command
from clsm_cli.music.bars import BarRange
from clsm_cli.timebase import Grid

PROVENANCE_PREFIX = "clsm-provenance "  # the text meta event that records how an output was made
PROVENANCE_FORMAT = 1


def w_to_text(w: np.ndarray) -> str:
    """A latent as base64 of its little-endian float32 bytes: exact, and short enough for a text event."""
    return base64.b64encode(np.asarray(w, dtype="<f4").tobytes()).decode("ascii")


def w_from_text(text: str) -> np.ndarray:
    """The latent :func:`w_to_text` wrote; ValueError for text that is not one."""
    return np.frombuffer(base64.b64decode(text.encode("ascii"), validate=True), dtype="<f4").astype(np.float32)


def provenance_record(result: FileResult, output_k: int, latents: Sequence[Latent], generation: int,
                      options: EditOptions, target_notes: Optional[Sequence[Sequence[int]]] = None) -> dict:
    """What an output records about itself (stored as JSON in one text meta event).

    ``target_notes`` (``endpoints.target_note_rows``) are the notes written into the target bars,
    so that a later command can tell whether the file was edited by hand since.
    """
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
        "command": reproduce_command(options, result.input),
        "latents": [{"bars": [latent.bars.first, latent.bars.last], "w": w_to_text(latent.w)} for latent in latents],
        "input": str(result.input),
    }
    if target_notes is not None:
        record["target_notes"] = [[int(value) for value in row] for row in target_notes]
    return record


def provenance_text(record: dict) -> str:
    return PROVENANCE_PREFIX + json.dumps(record, separators=(",", ":"), sort_keys=True, ensure_ascii=True)


def parse_provenance(texts: Sequence[str]) -> list[dict]:
    """Every clsm provenance record among a file's text events (others and garbled ones are skipped)."""
    records = []
    for text in texts:
        if not text.startswith(PROVENANCE_PREFIX):
            continue
        try:
            record = json.loads(text[len(PROVENANCE_PREFIX) :])
        except ValueError:
            continue
        if isinstance(record, dict) and isinstance(record.get("latents"), list):
            records.append(record)
    return records


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
