"""Edits of MIDI files: the layer between the ``clsm infill / interpolate / vary`` commands and edit.py.

One input file goes through these steps (DESIGN.md section 5):

1. read it, find its bars, check the bar range and that the model covers the meter of every bar
   the model will see;
2. choose the melody track, quantize it to the step grid and reduce it to one line (chords in the
   target bars are replaced by the new line, with a warning);
3. cut the model's window: 8 bars centred on the target and clamped to the song (a short song is
   padded with rests, with a warning), shifted by one octave shift into 55..84 (pitches still
   outside are folded for the model only); a right context that starts in the middle of a note is
   given that note's pitch, since the writer re-strikes it at the boundary;
4. run the operation of :mod:`clsm_cli.edit` and turn each candidate's tokens back into notes at
   the file's own pitch (a leading ``__`` extends the note sounding at the left boundary);
5. write each output with the surgical writer as ``<stem>.<verb>-bars<A>-<B>-s<seed>-<k>.mid``,
   with a provenance text event (model, seed, bars, command and the latent ``w``).

Targets longer than 4 bars (infill only) are filled in chunks of at most 4 bars, left to right.
An earlier chunk sees only what comes before it: its window is placed so that the chunk ends the
window (bars before the song start are rests). The last chunk sees both sides in a centred window.
Generated chunks are part of the context of the later ones.

Nothing here prints: :func:`edit_file` returns a :class:`FileResult` with outputs and warnings, or
with the ``ClsmError`` that stopped that file, and the CLI renders it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Optional, Sequence

import numpy as np

from clsm_cli import __version__
from clsm_cli.constants import HOLD_TOKEN, MAX_TARGET_BARS
from clsm_cli.errors import ClsmError, InputFileError, ModelError, UsageError
from clsm_cli.music import bars as bar_lines
from clsm_cli.music import melody, midi_io
from clsm_cli.music.tokens import (
    TOKEN_DTYPE,
    StepNote,
    decode_tokens,
    encode_notes,
    fold_into_range,
    octave_shift_into_range,
    sounding_token_at,
    tokens_to_text,
)

if TYPE_CHECKING:
    import torch

    from clsm_cli.edit import Candidate

VERBS = ("infill", "interpolate", "vary")
PROVENANCE_PREFIX = "clsm-provenance "  # the text meta event that records how an output was made
PROVENANCE_FORMAT = 1
SEED_LIMIT = 1_000_000  # drawn seeds stay short enough to read out and type back


# --- the model, loaded once per command -------------------------------------------------------------


@dataclass(frozen=True)
class EditModel:
    """A loaded CLSM plus what provenance needs to recognise it again (name and weights digest)."""

    model: "torch.nn.Module"
    config: object
    name: str
    sha256: str  # of model.safetensors: the same name with other weights is another model
    directory: Path
    device: str


def load_edit_model(name_or_path: Optional[str], device: str = "auto") -> EditModel:
    """Resolve ``--model`` (None = the shipped default), load it on ``device`` and check it is a CLSM."""
    from clsm_cli import checkpoint

    resolved_device = resolve_device(device)
    directory = checkpoint.resolve_model(name_or_path)
    loaded = checkpoint.load_model(directory, resolved_device)
    name = str(loaded.metadata.get("name") or Path(loaded.directory).name)
    if loaded.kind != "clsm":
        raise ModelError(
            f"model {name} is a {loaded.kind} model; infill, interpolate and vary need a CLSM model (see clsm models)"
        )
    return EditModel(
        model=loaded.model,
        config=loaded.config,
        name=name,
        sha256=str(loaded.metadata.get("weights_sha256") or weights_digest(Path(loaded.directory)))[:16],
        directory=Path(loaded.directory),
        device=resolved_device,
    )


def resolve_device(device: str) -> str:
    """``auto`` is CUDA when present, else the CPU; asking for CUDA without one is a usage error."""
    import torch

    if device not in ("auto", "cpu", "cuda"):
        raise UsageError(f"--device must be auto, cpu or cuda, got '{device}'")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda was asked for, but this machine has no CUDA device; use --device cpu")
    return device


def weights_digest(directory: Path) -> str:
    """The first 16 hex digits of the SHA-256 of the model's weights file."""
    digest = hashlib.sha256()
    with open(directory / "model.safetensors", "rb") as weights:
        for block in iter(lambda: weights.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


# --- options and results -------------------------------------------------------------------------


@dataclass(frozen=True)
class EditOptions:
    """What one command asks of every input file (validated by :func:`check_options`)."""

    verb: str
    first_bar: int
    last_bar: int
    seed: int
    out_dir: Path = Path(".")
    num: int = 4  # candidates (infill, vary)
    temperature: Optional[float] = None  # None: the model's recommended decoding
    top_p: Optional[float] = None
    track: Optional[str] = None
    force: bool = False
    combined: bool = False
    wav: bool = False
    model_arg: Optional[str] = None  # --model as given (None: the default), for the provenance command
    steps: int = 8  # interpolate: steps + 1 outputs
    from_original: bool = False
    start_file: Optional[Path] = None
    end_file: Optional[Path] = None
    amount: float = 0.5  # vary
    around_file: Optional[Path] = None


def check_options(options: EditOptions) -> None:
    """Usage errors (exit 2) that do not depend on any file."""
    if options.verb not in VERBS:
        raise UsageError(f"unknown edit {options.verb!r}; choose one of {', '.join(VERBS)}")
    target_bars = options.last_bar - options.first_bar + 1
    if options.verb != "infill" and target_bars > MAX_TARGET_BARS:
        raise UsageError(
            f"{options.verb} changes at most {MAX_TARGET_BARS} bars at a time (the model's longest target), "
            f"got {bar_lines.format_bar_range(options.first_bar, options.last_bar)} ({target_bars} bars)"
        )
    if options.num < 1:
        raise UsageError(f"-n/--num must be at least 1, got {options.num}")
    if options.steps < 1:
        raise UsageError(f"--steps must be at least 1, got {options.steps}")
    if options.temperature is not None and options.temperature < 0:
        raise UsageError(f"--temperature must be 0 (argmax) or more, got {options.temperature}")
    if options.top_p is not None and not 0 < options.top_p <= 1:
        raise UsageError(f"--top-p must be more than 0 and at most 1, got {options.top_p}")
    if options.amount < 0:
        raise UsageError(f"--amount must be 0 or more, got {options.amount}")
    if options.from_original and options.start_file is not None:
        raise UsageError("--from-original and --start both choose the first endpoint; give one of them")
    if not 0 <= options.seed < 2**63:
        raise UsageError(f"--seed must be in range 0..{2**63 - 1}, got {options.seed}")


def draw_seed() -> int:
    """A fresh seed from the operating system (reported, so the run can be repeated)."""
    return secrets.randbelow(SEED_LIMIT)


@dataclass(frozen=True)
class Latent:
    """The latent ``w`` that made the bars ``first_bar..last_bar`` of an output."""

    first_bar: int
    last_bar: int
    w: np.ndarray  # (z_dim,) float32


@dataclass(frozen=True)
class OutputFile:
    """One written output: where, its number k, the latents behind it, its new target notes."""

    path: Path
    k: int
    latents: tuple[Latent, ...]
    target_tokens: np.ndarray  # the decoded target tokens, in the model's (octave-shifted) pitches
    new_notes: tuple[StepNote, ...]  # what the target bars now hold, at the file's pitches
    wav: Optional[Path] = None
    wav_renderer: Optional[str] = None


@dataclass(frozen=True)
class RollView:
    """What a piano-roll preview of one output needs: the melody, the bars to draw, the target."""

    title: str
    notes: tuple[StepNote, ...]
    bars: tuple[tuple[int, int, int], ...]  # (number, first_step, steps)
    target_bars: frozenset[int]


@dataclass
class FileResult:
    """Everything one input file produced: outputs and warnings, or the error that stopped it."""

    input: Path
    verb: str
    seed: int
    model: str
    model_sha256: str
    first_bar: int
    last_bar: int
    outputs: list[OutputFile] = field(default_factory=list)
    combined: Optional[Path] = None
    warnings: list[str] = field(default_factory=list)
    error: Optional[ClsmError] = None
    track: Optional[str] = None
    octave_shift: int = 0
    temperature: Optional[float] = None
    top_p: Optional[float] = None
    previews: list[RollView] = field(default_factory=list)
    reproduce: str = ""  # the command line that makes these outputs again

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def exit_code(self) -> int:
        return 0 if self.error is None else self.error.exit_code

    def to_json(self) -> dict:
        """The object ``--json`` prints for this input file (one per line)."""
        return {
            "input": str(self.input),
            "command": self.verb,
            "reproduce": self.reproduce,
            "ok": self.ok,
            "error": None if self.error is None else self.error.message,
            "exit_code": self.exit_code,
            "model": self.model,
            "model_sha256": self.model_sha256,
            "seed": self.seed,
            "bars": [self.first_bar, self.last_bar],
            "track": self.track,
            "octave_shift": self.octave_shift,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "outputs": [
                {
                    "path": str(output.path),
                    "k": output.k,
                    "latents": [
                        {"bars": [latent.first_bar, latent.last_bar], "w": [float(x) for x in latent.w]}
                        for latent in output.latents
                    ],
                    "target_tokens": tokens_to_text(output.target_tokens),
                    "wav": None if output.wav is None else str(output.wav),
                }
                for output in self.outputs
            ],
            "combined": None if self.combined is None else str(self.combined),
            "warnings": list(self.warnings),
        }


# --- one song, ready for the model ---------------------------------------------------------------


@dataclass(frozen=True)
class PreparedSong:
    """A song read and checked, its melody track quantized (all notes) and reduced to one line."""

    path: Path
    song: object  # midi_io.MidiSong
    bars: tuple  # music.bars.Bar, numbered from 1
    track: object  # midi_io.MidiTrack
    all_notes: tuple[StepNote, ...]  # quantized, chords kept (what the file plays)
    line: tuple[StepNote, ...]  # one line (what the model sees)
    warnings: tuple[str, ...]

    def target_steps(self, first_bar: int, last_bar: int) -> tuple[int, int]:
        return bar_lines.bar_range_steps(self.bars, first_bar, last_bar)

    @property
    def track_label(self) -> str:
        name = getattr(self.track, "name", None)
        return f"{self.track.number} ({name})" if name else f"{self.track.number}"


def prepare_song(path: Path, first_bar: int, last_bar: int, track: Optional[str], edit_model: EditModel) -> PreparedSong:
    """Read ``path`` and check that bars ``first_bar..last_bar`` can be edited by this model."""
    path = Path(path)
    song = midi_io.read_midi(path)
    bars = tuple(bar_lines.song_bars(song))
    bar_lines.check_bar_range(first_bar, last_bar, bars, path.name)
    warnings: list[str] = []
    if not song.had_time_signature:
        warnings.append(f"{path.name} has no time signature: assuming 4/4 (the MIDI default)")
    first_window_bar, last_window_bar = _bars_seen(len(bars), first_bar, last_bar, edit_model.config)
    check_meters(bars, first_window_bar, last_window_bar, path.name, edit_model)

    chosen = melody.choose_melody_track(song, track, (first_bar, last_bar), list(bars))
    quantized = melody.quantize_track(chosen, list(bars), song.ticks_per_beat)
    all_notes = tuple(sorted(quantized.notes, key=lambda note: (note.start_step, note.pitch)))
    line, _ = melody.reduce_to_monophony(list(all_notes))
    line = tuple(sorted(line, key=lambda note: note.start_step))

    start, end = bar_lines.bar_range_steps(bars, first_bar, last_bar)
    in_target = lambda notes: sum(1 for note in notes if start <= note.start_step < end)  # noqa: E731
    if in_target(all_notes) > in_target(line):
        warnings.append(
            f"{bar_lines.format_bar_range(first_bar, last_bar)} of track {chosen.number} in {path.name} "
            "hold chords; they are replaced by a single new line"
        )
    return PreparedSong(path, song, bars, chosen, all_notes, line, tuple(warnings))


def _bars_seen(num_bars: int, first_bar: int, last_bar: int, config) -> tuple[int, int]:
    """The song bars any window of this edit covers (chunk windows reach back from their chunk)."""
    bars_per_window = _bars_per_window(config)
    first, last = centred_window_bars(num_bars, first_bar, last_bar, bars_per_window)
    if last_bar - first_bar + 1 > MAX_TARGET_BARS:
        first_chunk_last = first_bar + MAX_TARGET_BARS - 1  # that chunk's window ends with it
        first = max(1, min(first, first_chunk_last - bars_per_window + 1))
    return first, last


def check_meters(bars: Sequence, first_bar: int, last_bar: int, file_name: str, edit_model: EditModel) -> None:
    """InputFileError (exit 3) naming both meters when the model does not cover a bar it must see."""
    config = edit_model.config
    covered = [tuple(meter) for meter in config.meters]
    for bar in bars[first_bar - 1 : last_bar]:
        meter = (bar.numerator, bar.denominator)
        if meter not in covered:
            meters_text = " and ".join(f"{n}/{d}" for n, d in covered)
            everywhere = all((b.numerator, b.denominator) == meter for b in bars)
            where = file_name if everywhere else f"bar {bar.number} of {file_name}"
            raise InputFileError(
                f"{where} is in {meter[0]}/{meter[1]}, but the model {edit_model.name} only knows "
                f"{meters_text}; see clsm models for the meters each model covers"
            )
        if bar.steps != config.steps_per_bar:
            raise InputFileError(
                f"bar {bar.number} of {file_name} is cut short by a time-signature change "
                f"({bar.steps} of {config.steps_per_bar} sixteenths); choose bars away from it"
            )


def _bars_per_window(config) -> int:
    return int(config.window_steps) // int(config.steps_per_bar)


def centred_window_bars(num_bars: int, first_bar: int, last_bar: int, bars_per_window: int) -> tuple[int, int]:
    """First and last bar of the window centred on the target and clamped to the song.

    A song shorter than the window gives the whole song (the window is then padded with rests).
    """
    if num_bars <= bars_per_window:
        return 1, num_bars
    before = (bars_per_window - (last_bar - first_bar + 1)) // 2
    first = max(1, min(first_bar - before, num_bars - bars_per_window + 1))
    return first, first + bars_per_window - 1


# --- the model's window --------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelWindow:
    """A window as the model sees it, and how it maps back onto the song.

    ``start_step`` is the song step of window position 0 (negative when the window reaches before
    the song: those steps are rests). ``target`` is ``(start, length)`` inside the window.
    ``octave_shift`` was added to every pitch (folded pitches aside) and is taken off again.
    """

    tokens: np.ndarray  # (window_steps,) uint8, canonical
    start_step: int
    target: tuple[int, int]
    octave_shift: int

    @property
    def target_start_step(self) -> int:
        return self.start_step + self.target[0]


def build_window(line: Sequence[StepNote], start_step: int, target_start_step: int, target_length: int,
                 window_steps: int) -> ModelWindow:
    """The model's view of one line of notes around a target (pure).

    One octave shift moves the window's notes into 55..84 (the most of them), pitches still
    outside are folded by octaves. A right context that begins inside a note (or a rest) starts
    with that note's pitch (or ``R``), not with ``__``: the target before it is being replaced.
    """
    end_step = start_step + window_steps
    inside = [note for note in line if note.start_step < end_step and note.end_step > start_step]
    shift = octave_shift_into_range(note.pitch for note in inside)
    model_notes = [replace(note, pitch=fold_into_range(note.pitch + shift), tied_from_before=False) for note in inside]
    tokens = encode_notes(model_notes, window_steps, start_step=start_step)
    target_start = target_start_step - start_step
    right = target_start + target_length
    if right < window_steps and tokens[right] == HOLD_TOKEN:
        tokens[right] = sounding_token_at(tokens, right)
    return ModelWindow(tokens.astype(TOKEN_DTYPE), start_step, (target_start, target_length), shift)


def centred_window(prepared: PreparedSong, line: Sequence[StepNote], first_bar: int, last_bar: int,
                   config) -> ModelWindow:
    """The window centred on bars ``first_bar..last_bar`` (both sides of context)."""
    first_window_bar, _ = centred_window_bars(len(prepared.bars), first_bar, last_bar, _bars_per_window(config))
    start, end = prepared.target_steps(first_bar, last_bar)
    return build_window(line, prepared.bars[first_window_bar - 1].first_step, start, end - start, config.window_steps)


def left_context_window(prepared: PreparedSong, line: Sequence[StepNote], first_bar: int, last_bar: int,
                        config) -> ModelWindow:
    """The window that ends with bars ``first_bar..last_bar``: only the music before them is seen."""
    start, end = prepared.target_steps(first_bar, last_bar)
    return build_window(line, end - config.window_steps, start, end - start, config.window_steps)


def short_song_warning(prepared: PreparedSong, window: ModelWindow, config) -> Optional[str]:
    song_steps = prepared.bars[-1].end_step
    missing = window.start_step + config.window_steps - song_steps
    if missing <= 0:
        return None
    return (
        f"{prepared.path.name} has only {len(prepared.bars)} bars; the model sees "
        f"{missing // config.steps_per_bar} bars of rest after it to fill its {_bars_per_window(config)}-bar window"
    )


# --- tokens back to notes ------------------------------------------------------------------------


def target_notes(tokens: np.ndarray, window: ModelWindow, line: Sequence[StepNote]) -> list[StepNote]:
    """The notes of generated target tokens on the song's grid and at the song's pitch (pure).

    A leading ``__`` continues what sounds just before the target in ``line``: the note becomes
    ``tied_from_before`` with that note's pitch, or disappears when a rest (or nothing) sounds.
    """
    start = window.target_start_step
    notes = []
    for note in decode_tokens(tokens, start_step=start):
        if note.tied_from_before:
            before = sounding_note(line, start - 1)
            if before is None:
                continue  # the rest before the target simply goes on
            notes.append(StepNote(note.start_step, note.end_step, before.pitch, tied_from_before=True))
        else:
            notes.append(replace(note, pitch=_midi_pitch(note.pitch - window.octave_shift)))
    return notes


def sounding_note(notes: Sequence[StepNote], step: int) -> Optional[StepNote]:
    """The highest note sounding at ``step`` (None for a rest or a step before the song)."""
    if step < 0:
        return None
    sounding = [note for note in notes if note.start_step <= step < note.end_step]
    return max(sounding, key=lambda note: note.pitch) if sounding else None


def _midi_pitch(pitch: int) -> int:
    """Fold a shifted-back pitch into MIDI's 0..127 (only matters for melodies at the extremes)."""
    while pitch > 127:
        pitch -= 12
    while pitch < 0:
        pitch += 12
    return pitch


def splice(notes: Sequence[StepNote], start: int, end: int, new_notes: Sequence[StepNote]) -> list[StepNote]:
    """``notes`` with steps ``start..end`` replaced by ``new_notes``, as the writer does it (pure).

    Notes crossing ``start`` keep their part before it (a tied new note extends the one of its
    pitch instead); notes crossing ``end`` keep their part after it, re-struck at ``end``.
    """
    kept: list[Optional[StepNote]] = []
    ending_at_start: dict[int, int] = {}  # pitch -> index in kept of a note cut at (or ending at) start
    restruck: dict[int, int] = {}  # index of a cut note -> index of its re-struck remainder
    for note in notes:
        if note.end_step <= start or note.start_step >= end:
            kept.append(note)
            if note.end_step == start:
                ending_at_start[note.pitch] = len(kept) - 1
            continue
        if note.start_step < start:
            kept.append(StepNote(note.start_step, start, note.pitch, note.tied_from_before))
            ending_at_start[note.pitch] = len(kept) - 1
        if note.end_step > end:
            kept.append(StepNote(end, note.end_step, note.pitch))
            if note.start_step < start:
                restruck[len(kept) - 2] = len(kept) - 1
    for note in new_notes:
        index = ending_at_start.get(note.pitch) if note.tied_from_before else None
        if index is None:
            kept.append(StepNote(note.start_step, note.end_step, note.pitch))
            continue
        previous = kept[index]
        new_end = note.end_step
        if new_end == end and index in restruck:
            # A tie through the whole range: the original note simply sounds on, never re-struck.
            new_end = kept[restruck[index]].end_step
            kept[restruck[index]] = None
        kept[index] = StepNote(previous.start_step, new_end, previous.pitch, previous.tied_from_before)
    return sorted((note for note in kept if note is not None), key=lambda note: (note.start_step, note.pitch))


def notes_for_writer(line: Sequence[StepNote], start: int, end: int) -> list[StepNote]:
    """The notes of a spliced line inside ``start..end``, as the writer takes them.

    A note that began before ``start`` and now lasts into the target is a tie: it is given from
    ``start`` with ``tied_from_before`` so the writer extends the original note.
    """
    notes = []
    for note in line:
        if note.end_step <= start or note.start_step >= end:
            continue
        if note.start_step < start:
            notes.append(StepNote(start, min(note.end_step, end), note.pitch, tied_from_before=True))
        else:
            notes.append(StepNote(note.start_step, min(note.end_step, end), note.pitch))
    return notes


# --- provenance ----------------------------------------------------------------------------------


def encode_w(w: np.ndarray) -> str:
    """A latent as base64 of its little-endian float32 bytes: exact, and short enough for a text event."""
    return base64.b64encode(np.asarray(w, dtype="<f4").tobytes()).decode("ascii")


def decode_w(text: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text.encode("ascii"), validate=True), dtype="<f4").astype(np.float32)


def provenance_record(result: FileResult, output_k: int, latents: Sequence[Latent], generation: int,
                      options: EditOptions) -> dict:
    """What an output records about itself (stored as JSON in one text meta event)."""
    return {
        "format": PROVENANCE_FORMAT,
        "clsm": __version__,
        "verb": result.verb,
        "model": result.model,
        "model_sha256": result.model_sha256,
        "seed": result.seed,
        "bars": [result.first_bar, result.last_bar],
        "k": output_k,
        "temperature": result.temperature,
        "top_p": result.top_p,
        "octave_shift": result.octave_shift,
        "generation": generation,
        "command": reproduce_command(options, result.input),
        "latents": [{"bars": [latent.first_bar, latent.last_bar], "w": encode_w(latent.w)} for latent in latents],
    }


def reproduce_command(options: EditOptions, input_path: Path) -> str:
    """The command line that makes this file's outputs again (resolved options, seed included)."""
    import shlex

    parts = ["clsm", options.verb, str(input_path), "--bars", f"{options.first_bar}-{options.last_bar}"]
    if options.verb in ("infill", "vary"):
        parts += ["-n", str(options.num)]
    if options.verb == "interpolate":
        parts += ["--steps", str(options.steps)]
        if options.from_original:
            parts.append("--from-original")
        if options.start_file is not None:
            parts += ["--start", str(options.start_file)]
        if options.end_file is not None:
            parts += ["--end", str(options.end_file)]
    if options.verb == "vary":
        parts += ["--amount", f"{options.amount:g}"]
        if options.around_file is not None:
            parts += ["--around", str(options.around_file)]
    parts += ["--seed", str(options.seed)]
    if options.temperature is not None:
        parts += ["--temperature", f"{options.temperature:g}"]
    if options.top_p is not None:
        parts += ["--top-p", f"{options.top_p:g}"]
    if options.model_arg is not None:
        parts += ["--model", options.model_arg]
    if options.track is not None:
        parts += ["--track", options.track]
    return shlex.join(parts)  # without --out: the same edit written elsewhere is the same file


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


def _generation(records: Sequence[dict]) -> int:
    return 1 + max((int(record.get("generation", 0)) for record in records), default=0)


def stored_latent(records: Sequence[dict], first_bar: int, last_bar: int, edit_model: EditModel) -> Optional[np.ndarray]:
    """The w a file stored for exactly these bars, if the newest edit touching them was this model's."""
    touching = [
        record for record in records
        if _overlaps(record.get("bars", [0, 0]), first_bar, last_bar)
    ]
    if not touching:
        return None
    newest = max(touching, key=lambda record: int(record.get("generation", 0)))
    if newest.get("model") != edit_model.name or newest.get("model_sha256") != edit_model.sha256:
        return None
    for latent in newest["latents"]:
        if list(latent.get("bars", [])) == [first_bar, last_bar]:
            try:
                w = decode_w(str(latent["w"]))
            except (ValueError, KeyError):
                return None
            return w if w.shape == (int(edit_model.config.z_dim),) else None
    return None


def _overlaps(bars: Sequence[int], first_bar: int, last_bar: int) -> bool:
    try:
        return int(bars[0]) <= last_bar and int(bars[1]) >= first_bar
    except (TypeError, ValueError, IndexError):
        return False


def latent_from_file(path: Path, options: EditOptions, edit_model: EditModel, role: str) -> tuple[np.ndarray, Optional[str]]:
    """The w of bars A..B of an earlier output (reused exactly) or of any other file (encoded).

    Returns the latent and a note for the user when it had to be encoded.
    """
    from clsm_cli import edit

    path = Path(path)
    try:
        records = parse_provenance(midi_io.read_text_events(path))
    except ClsmError as error:
        raise InputFileError(f"{role} file: {error.message}") from None
    w = stored_latent(records, options.first_bar, options.last_bar, edit_model)
    if w is not None:
        return w, None
    prepared = prepare_song(path, options.first_bar, options.last_bar, options.track, edit_model)
    window = centred_window(prepared, prepared.line, options.first_bar, options.last_bar, edit_model.config)
    why = "is not an output of" if not records else "was not made for these bars by"
    note = (
        f"{role} file {path.name} {why} model {edit_model.name}; "
        f"its {bar_lines.format_bar_range(options.first_bar, options.last_bar)} were encoded instead"
    )
    return edit.encode_w(edit_model.model, window.tokens, window.target), note


# --- outputs -------------------------------------------------------------------------------------


def output_path(out_dir: Path, input_path: Path, verb: str, first_bar: int, last_bar: int, seed: int, k: int | str) -> Path:
    """``<stem>.<verb>-bars<A>-<B>-s<seed>-<k>.mid`` in ``out_dir``."""
    return Path(out_dir) / f"{Path(input_path).stem}.{verb}-bars{first_bar}-{last_bar}-s{seed}-{k}.mid"


def _check_outputs_free(paths: Sequence[Path], input_path: Path, force: bool) -> None:
    """Refuse before writing anything, so a refused file leaves no half-written set behind."""
    from clsm_cli.errors import OutputError

    for path in paths:
        if path.resolve() == Path(input_path).resolve():
            raise OutputError(f"{path.name} is the input file itself; clsm never overwrites its input")
        if path.exists() and not force:
            raise OutputError(
                f"{path} already exists; use --force to overwrite it, or another --seed to write new files"
            )


def _make_out_dir(out_dir: Path) -> None:
    from clsm_cli.errors import OutputError

    try:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"cannot create the output folder {out_dir} ({error.strerror or error})") from None


# --- the three edits -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Version:
    """One candidate before writing: its new target notes, latents and tokens."""

    line: tuple[StepNote, ...]  # the whole spliced line (for later chunks and the writer)
    latents: tuple[Latent, ...]
    tokens: np.ndarray


def edit_file(path: Path, options: EditOptions, edit_model: EditModel) -> FileResult:
    """Run ``options.verb`` on one file; a ClsmError becomes the result's ``error`` (nothing raised)."""
    from clsm_cli.edit import resolve_decoding

    decoding = resolve_decoding(edit_model.model, options.temperature, options.top_p)
    result = FileResult(
        input=Path(path), verb=options.verb, seed=options.seed, model=edit_model.name,
        model_sha256=edit_model.sha256, first_bar=options.first_bar, last_bar=options.last_bar,
        temperature=decoding.temperature, top_p=decoding.top_p, reproduce=reproduce_command(options, Path(path)),
    )
    try:
        _run_edit(result, options, edit_model)
    except ClsmError as error:
        result.error = error
    return result


def _run_edit(result: FileResult, options: EditOptions, edit_model: EditModel) -> None:
    prepared = prepare_song(result.input, options.first_bar, options.last_bar, options.track, edit_model)
    result.track = prepared.track_label
    result.warnings.extend(prepared.warnings)
    start, end = prepared.target_steps(options.first_bar, options.last_bar)

    # Refuse existing outputs before the model runs, so a refused file costs nothing.
    count = options.steps + 1 if options.verb == "interpolate" else options.num
    paths = [output_path(options.out_dir, prepared.path, options.verb, options.first_bar, options.last_bar,
                         options.seed, k) for k in range(1, count + 1)]
    combined_path = (output_path(options.out_dir, prepared.path, options.verb, options.first_bar, options.last_bar,
                                 options.seed, "all") if options.combined else None)
    wav_paths = [path.with_suffix(".wav") for path in paths] if options.wav else []
    _make_out_dir(options.out_dir)
    _check_outputs_free(paths + wav_paths + ([combined_path] if combined_path else []), prepared.path, options.force)

    if options.verb == "infill":
        versions = _infill_versions(prepared, options, edit_model, result)
    elif options.verb == "interpolate":
        versions = _interpolate_versions(prepared, options, edit_model, result)
    else:
        versions = _vary_versions(prepared, options, edit_model, result)

    generation = _generation(parse_provenance(midi_io.read_text_events(prepared.path)))
    for k, (version, path) in enumerate(zip(versions, paths), start=1):
        record = provenance_record(result, k, version.latents, generation, options)
        midi_io.write_edited_song(
            prepared.song, prepared.track, list(prepared.bars), options.first_bar, options.last_bar,
            notes_for_writer(version.line, start, end), path, provenance_text(record), force=options.force,
        )
        wav, renderer = None, None
        if options.wav:
            wav = path.with_suffix(".wav")
            renderer = midi_io.render_wav(path, wav, force=options.force)
        result.outputs.append(OutputFile(path, k, version.latents, version.tokens,
                                         tuple(notes_for_writer(version.line, start, end)), wav, renderer))
        result.previews.append(_roll_view(prepared, version, path.name, options))

    if combined_path is not None:
        _write_combined(prepared, options, versions, combined_path, result, generation)
        result.combined = combined_path


def _infill_versions(prepared: PreparedSong, options: EditOptions, edit_model: EditModel,
                     result: FileResult) -> list[_Version]:
    from clsm_cli import edit

    config = edit_model.config
    chunks = target_chunks(options.first_bar, options.last_bar)
    if len(chunks) > 1:
        result.warnings.append(
            f"{bar_lines.format_bar_range(options.first_bar, options.last_bar)} are more than {MAX_TARGET_BARS} bars: "
            f"filled in {len(chunks)} chunks, left to right ("
            + ", ".join(bar_lines.format_bar_range(a, b) for a, b in chunks) + ")"
        )
    # The first chunk has the same window for every candidate: one batch.
    first_window = _chunk_window(prepared, prepared.line, chunks, 0, config)
    _note_window(result, prepared, first_window, config)
    first = edit.infill(edit_model.model, first_window.tokens, first_window.target, n=options.num,
                        seed=options.seed, temperature=result.temperature, top_p=result.top_p)
    versions = [_apply(prepared, prepared.line, first_window, candidate, chunks[0]) for candidate in first]
    # Later chunks follow each candidate's own generated bars, so each is decoded on its own.
    for index in range(1, len(chunks)):
        for k, version in enumerate(versions):
            window = _chunk_window(prepared, version.line, chunks, index, config)
            (candidate,) = edit.infill(edit_model.model, window.tokens, window.target, n=1,
                                       seed=chunk_seed(options.seed, index, k), temperature=result.temperature,
                                       top_p=result.top_p)
            versions[k] = _apply(prepared, version.line, window, candidate, chunks[index], version)
    return versions


def _interpolate_versions(prepared: PreparedSong, options: EditOptions, edit_model: EditModel,
                          result: FileResult) -> list[_Version]:
    from clsm_cli import edit

    window = centred_window(prepared, prepared.line, options.first_bar, options.last_bar, edit_model.config)
    _note_window(result, prepared, window, edit_model.config)
    prior_start, prior_end = edit.prior_endpoints(edit_model.model, window.tokens, window.target, seed=options.seed)
    if options.from_original:
        start_w = edit.encode_w(edit_model.model, window.tokens, window.target)
    elif options.start_file is not None:
        start_w, note = latent_from_file(options.start_file, options, edit_model, "--start")
        _add_note(result, note)
    else:
        start_w = prior_start
    if options.end_file is not None:
        end_w, note = latent_from_file(options.end_file, options, edit_model, "--end")
        _add_note(result, note)
    else:
        end_w = prior_end
    candidates = edit.interpolate(edit_model.model, window.tokens, window.target, options.steps, start_w, end_w,
                                  temperature=result.temperature, top_p=result.top_p, seed=options.seed)
    target = (options.first_bar, options.last_bar)
    return [_apply(prepared, prepared.line, window, candidate, target) for candidate in candidates]


def _vary_versions(prepared: PreparedSong, options: EditOptions, edit_model: EditModel,
                   result: FileResult) -> list[_Version]:
    from clsm_cli import edit

    window = centred_window(prepared, prepared.line, options.first_bar, options.last_bar, edit_model.config)
    _note_window(result, prepared, window, edit_model.config)
    around_w = None
    if options.around_file is not None:
        around_w, note = latent_from_file(options.around_file, options, edit_model, "--around")
        _add_note(result, note)
    candidates = edit.vary(edit_model.model, window.tokens, window.target, options.amount, n=options.num,
                           seed=options.seed, around_w=around_w, temperature=result.temperature, top_p=result.top_p)
    target = (options.first_bar, options.last_bar)
    return [_apply(prepared, prepared.line, window, candidate, target) for candidate in candidates]


def _apply(prepared: PreparedSong, line: Sequence[StepNote], window: ModelWindow, candidate: "Candidate",
           chunk: tuple[int, int], previous: Optional[_Version] = None) -> _Version:
    start, end = prepared.target_steps(*chunk)
    new_line = splice(line, start, end, target_notes(candidate.tokens, window, line))
    latents = (previous.latents if previous else ()) + (Latent(chunk[0], chunk[1], candidate.w),)
    tokens = candidate.tokens if previous is None else np.concatenate([previous.tokens, candidate.tokens])
    return _Version(tuple(new_line), latents, tokens.astype(TOKEN_DTYPE))


def target_chunks(first_bar: int, last_bar: int, max_bars: int = MAX_TARGET_BARS) -> list[tuple[int, int]]:
    """Bars ``first_bar..last_bar`` in chunks of at most ``max_bars``, left to right."""
    return [(bar, min(bar + max_bars - 1, last_bar)) for bar in range(first_bar, last_bar + 1, max_bars)]


def chunk_seed(seed: int, chunk_index: int, candidate_index: int) -> int:
    """A seed for chunk ``chunk_index`` (from 1) of candidate ``candidate_index``, derived from ``seed``."""
    return int(np.random.SeedSequence([seed, chunk_index, candidate_index]).generate_state(1, dtype=np.uint64)[0] >> 1)


def _chunk_window(prepared: PreparedSong, line: Sequence[StepNote], chunks: Sequence[tuple[int, int]], index: int,
                  config) -> ModelWindow:
    first_bar, last_bar = chunks[index]
    if index == len(chunks) - 1:
        return centred_window(prepared, line, first_bar, last_bar, config)
    return left_context_window(prepared, line, first_bar, last_bar, config)


def _note_window(result: FileResult, prepared: PreparedSong, window: ModelWindow, config) -> None:
    result.octave_shift = window.octave_shift
    _add_note(result, short_song_warning(prepared, window, config))


def _add_note(result: FileResult, note: Optional[str]) -> None:
    if note and note not in result.warnings:
        result.warnings.append(note)


def _roll_view(prepared: PreparedSong, version: _Version, title: str, options: EditOptions) -> RollView:
    """Preview of an output: the file's notes (chords kept) with the target spliced in."""
    start, end = prepared.target_steps(options.first_bar, options.last_bar)
    notes = splice(prepared.all_notes, start, end, notes_for_writer(version.line, start, end))
    first_shown, last_shown = _shown_bars(prepared, options)
    shown = tuple((bar.number, bar.first_step, bar.steps) for bar in prepared.bars[first_shown - 1 : last_shown])
    return RollView(title, tuple(notes), shown, frozenset(range(options.first_bar, options.last_bar + 1)))


def _shown_bars(prepared: PreparedSong, options: EditOptions) -> tuple[int, int]:
    """Bars a preview shows: the target and up to two bars of context on each side."""
    return max(1, options.first_bar - 2), min(len(prepared.bars), options.last_bar + 2)


def _write_combined(prepared: PreparedSong, options: EditOptions, versions: Sequence[_Version], path: Path,
                    result: FileResult, generation: int) -> None:
    start, end = prepared.target_steps(options.first_bar, options.last_bar)
    record = provenance_record(result, 0, (), generation, options)
    record["outputs"] = len(versions)
    if options.verb == "interpolate":
        # Each version as a whole window (context and target), one after another.
        first_shown, last_shown = _shown_bars(prepared, options)
        shown_start = prepared.bars[first_shown - 1].first_step
        shown_end = prepared.bars[last_shown - 1].end_step
        melodies = []
        for version in versions:
            notes = splice(prepared.all_notes, start, end, notes_for_writer(version.line, start, end))
            melodies.append([
                StepNote(max(note.start_step, shown_start) - shown_start, min(note.end_step, shown_end) - shown_start,
                         note.pitch)
                for note in notes if note.start_step < shown_end and note.end_step > shown_start
            ])
        first = prepared.bars[first_shown - 1]
        midi_io.write_sequence_file(
            melodies, first.steps, prepared.song.ticks_per_beat, _tempo_at(prepared, start),
            (first.numerator, first.denominator), int(getattr(prepared.track, "program", 0) or 0), path,
            provenance_text(record), options.force, channel=prepared.track.channel,
        )
    else:
        midi_io.write_candidates_file(
            prepared.song, prepared.track, list(prepared.bars), options.first_bar, options.last_bar,
            [list(notes_for_writer(version.line, start, end)) for version in versions], path,
            provenance_text(record), options.force,
        )


def _tempo_at(prepared: PreparedSong, step: int) -> int:
    """The tempo (microseconds per quarter) in force at the target's first bar."""
    tick = prepared.bars[bar_lines.bar_at_step(prepared.bars, step).number - 1].start_tick
    tempo = 500_000
    for tempo_tick, value in sorted(prepared.song.tempos):
        if tempo_tick <= tick:
            tempo = value
    return tempo
