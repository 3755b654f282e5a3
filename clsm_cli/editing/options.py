"""What an editing command asks of every file (:class:`EditOptions`) and what one file produced
(:class:`FileResult`), with its ``--json`` record and the command line that repeats it."""

from __future__ import annotations

import math
import secrets
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from clsm_cli.constants import MAX_TARGET_BARS, STEPS_PER_BAR
from clsm_cli.editing.controls import ControlRequest, check_controls
from clsm_cli.sampling import Decoding, resolve_decoding
from clsm_cli.errors import ClsmError, UsageError
from clsm_cli.music.bars import BarRange
from clsm_cli.music.edit_plan import VOICES
from clsm_cli.timebase import Meter
from clsm_cli.music.tokens import StepNote, tokens_to_text

VERBS = ("infill", "interpolate", "vary")
SEED_LIMIT = 1_000_000  # drawn seeds stay short enough to read out and type back
MAX_SEED = 2**63 - 1
MAX_VARY_AMOUNT = 4.0  # four prior standard deviations: beyond it a variation is just a new sample


@dataclass(frozen=True)
class EditOptions:
    """What one command asks of every input file (validated by :func:`check_options`)."""

    verb: str
    bars: BarRange
    seed: int
    out_dir: Path = Path(".")
    num: int = 4  # candidates (infill, vary)
    temperature: Optional[float] = None  # None: the model's recommended decoding
    top_p: Optional[float] = None
    track: Optional[str] = None
    force: bool = False
    combined: bool = False
    wav: bool = False
    musicxml: bool = False  # --musicxml: a MusicXML file beside each output
    abc: bool = False  # --abc: an ABC file beside each output
    model_arg: Optional[str] = None  # --model as given (None: the default), for the provenance command
    steps: int = 8  # interpolate: steps + 1 outputs
    from_original: bool = False
    start_file: Optional[Path] = None
    end_file: Optional[Path] = None
    amount: float = 0.5  # vary: 0..MAX_VARY_AMOUNT
    around_file: Optional[Path] = None
    voice: str = "top"  # "top": edit the track's top voice, keep the notes under it; "all": every note
    meter: Optional[Meter] = None  # --meter: bars counted in this meter instead of the file's time signatures
    soundfont: Optional[Path] = None  # --soundfont for --wav (None: CLSM_SOUNDFONT, then the system's)
    also_track: Optional[str] = None  # --also-track: a track doubling the melody, edited the same way
    phase: Optional[int] = None  # --phase: a bar line at this tick (0: tick 0; negative: before it); None: the detected phase (music/phase.py)
    controls: ControlRequest = ControlRequest()  # --key, --range, --keep-rhythm, --max-leap, --density
    pool: Optional[int] = None  # --pool: candidates drawn before the best -n are written (None: the default)
    rank: bool = True  # False (--rank none): the pool's draw order


def check_options(options: EditOptions) -> None:
    """Usage errors (exit 2) that do not depend on any file or model."""
    if options.verb not in VERBS:
        raise UsageError(f"unknown edit {options.verb!r}; choose one of {', '.join(VERBS)}")
    if options.verb != "infill" and options.bars.count > MAX_TARGET_BARS:
        raise UsageError(
            f"{options.verb} changes at most {MAX_TARGET_BARS} bars at a time (the model's longest target), "
            f"got {options.bars} ({options.bars.count} bars)"
        )
    if options.num < 1:
        raise UsageError(f"-n/--num must be at least 1, got {options.num}")
    if options.steps < 1:
        raise UsageError(f"--steps must be at least 1, got {options.steps}")
    if not (math.isfinite(options.amount) and 0 <= options.amount <= MAX_VARY_AMOUNT):
        raise UsageError(f"--amount must be a number from 0 to {MAX_VARY_AMOUNT:g}, got {options.amount:g}")
    if options.voice not in VOICES:
        raise UsageError(f"--voice must be one of {', '.join(VOICES)}, got {options.voice!r}")
    if options.from_original and options.start_file is not None:
        raise UsageError("--from-original and --start both choose the first endpoint; give one of them")
    if options.pool is not None and options.pool < 1:
        raise UsageError(f"--pool must be at least 1, got {options.pool}")
    check_controls(options.controls)
    if not 0 <= options.seed <= MAX_SEED:
        raise UsageError(f"--seed must be in range 0..{MAX_SEED}, got {options.seed}")
    Decoding(  # range checks of the options given (the model fills the others in later)
        0.0 if options.temperature is None else float(options.temperature),
        1.0 if options.top_p is None else float(options.top_p),
    )


def command_decoding(config, temperature: Optional[float], top_p: Optional[float]) -> Decoding:
    """The decoding of one command, resolved against the model once: the options given, and the
    decoding the model's config recommends for the ones left unset."""
    recommended = Decoding(float(config.decoding_temperature), float(config.decoding_top_p))
    return resolve_decoding(recommended, temperature, top_p)


def draw_seed() -> int:
    """A fresh seed from the operating system (reported, so the run can be repeated)."""
    return secrets.randbelow(SEED_LIMIT)


def output_path(options: EditOptions, stem: str, k: int | str) -> Path:
    """``<stem>.<verb>-bars<A>-<B>-s<seed>-<k>.mid`` in ``--out``.

    ``stem`` is the input's stem, or the name :func:`inputs.output_stems` gave it in a batch. A
    variation around another file says so: ``<stem>.vary-bars<A>-<B>-around-<its stem>-s<seed>-<k>.mid``
    (the around file's stem without a leading ``<stem>.``), so it never takes a plain vary's name.
    """
    around = ""
    if options.verb == "vary" and options.around_file is not None:
        other = Path(options.around_file).stem
        if other.casefold().startswith(stem.casefold() + "."):
            other = other[len(stem) + 1 :]
        around = f"-around-{other}"
    bars = options.bars
    return Path(options.out_dir) / f"{stem}.{options.verb}-bars{bars.first}-{bars.last}{around}-s{options.seed}-{k}.mid"


def reproduce_command(options: EditOptions, input_path: Path) -> str:
    """The command line that makes this file's outputs again (resolved options, seed included)."""
    parts = ["clsm", options.verb, str(input_path), "--bars", f"{options.bars.first}-{options.bars.last}"]
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
    if options.voice != "top":
        parts += ["--voice", options.voice]
    if options.meter is not None:
        parts += ["--meter", str(options.meter)]
    if options.also_track is not None:
        parts += ["--also-track", options.also_track]
    if options.phase is not None:
        parts += ["--phase", str(options.phase)]
    parts += _control_parts(options)
    return shlex.join(parts)


def _control_parts(options: EditOptions) -> list[str]:
    """The steering options of a command line, as given."""
    request, parts = options.controls, []
    if request.key is not None:
        parts += ["--key", request.key]
    if request.pitch_range == "any":
        parts += ["--range", "any"]
    elif isinstance(request.pitch_range, tuple):
        parts += ["--range", f"{request.pitch_range[0]}-{request.pitch_range[1]}"]
    if request.keep_rhythm:
        parts.append("--keep-rhythm")
    if request.max_leap is not None:
        parts += ["--max-leap", str(request.max_leap)]
    if request.density is not None:
        parts += ["--density", f"{request.density[0]:g}-{request.density[1]:g}"]
    if options.pool is not None:
        parts += ["--pool", str(options.pool)]
    if not options.rank:
        parts += ["--rank", "none"]
    return parts  # without --out: the same edit written elsewhere is the same file


# --- results -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Latent:
    """The latent ``w`` that made some bars of an output."""

    bars: BarRange
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
    notation: tuple[tuple[str, Path], ...] = ()  # ("musicxml" | "abc", path) written beside it
    draw_index: int = 0  # the pool member it is (its random numbers); 0: not drawn (an exact endpoint)
    score: Optional[object] = None  # ranking.Score
    achieved: Optional[object] = None  # controls.Achieved


@dataclass(frozen=True)
class Redraw:
    """Pool member ``k`` (its draw index) had ``bars`` drawn again (redraw number ``attempt``)
    because the draw before was ``reason`` ("all rests", "the original bars", "a copy of an
    earlier candidate"); ``attempt`` 0 marks a member dropped from the pool for it."""

    k: int
    bars: BarRange
    attempt: int
    reason: str


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
    bars: BarRange
    decoding: Decoding
    outputs: list[OutputFile] = field(default_factory=list)
    combined: Optional[Path] = None
    warnings: list[str] = field(default_factory=list)
    error: Optional[ClsmError] = None
    track: Optional[str] = None
    octave_shift: int = 0
    previews: list[RollView] = field(default_factory=list)
    redraws: list[Redraw] = field(default_factory=list)
    output_stem: str = ""  # what the outputs are named after: the input's stem unless a batch needed another
    reproduce: str = ""  # the command line that makes these outputs again
    model_choice: Optional[dict] = None  # model_choice.ModelChoice.to_json(): the rule and each model's fit
    grid: str = "16th"  # the model's grid encoding (timebase.Grid), recorded in provenance
    steps_per_bar: int = STEPS_PER_BAR  # the model's bar length in tokens (target_tokens split there)
    steering: Optional[object] = None  # steering.Steering: the key and the controls used
    pool: int = 0  # candidates drawn (infill, vary)

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def exit_code(self) -> int:
        return 0 if self.error is None else self.error.exit_code

    def add_warning(self, warning: Optional[str]) -> None:
        """Add a warning once (the same sentence from two chunks is said once)."""
        if warning and warning not in self.warnings:
            self.warnings.append(warning)

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
            "model_choice": self.model_choice,
            "seed": self.seed,
            "bars": [self.bars.first, self.bars.last],
            "track": self.track,
            "octave_shift": self.octave_shift,
            "temperature": self.decoding.temperature,
            "top_p": self.decoding.top_p,
            "outputs": [
                {
                    "path": str(output.path),
                    "k": output.k,
                    "latents": [
                        {"bars": [latent.bars.first, latent.bars.last], "w": [float(x) for x in latent.w]}
                        for latent in output.latents
                    ],
                    "target_tokens": tokens_to_text(output.target_tokens, self.steps_per_bar),
                    "wav": None if output.wav is None else str(output.wav),
                    **{name: str(dict(output.notation)[name]) if name in dict(output.notation) else None
                       for name in ("musicxml", "abc")},
                    "wav_renderer": output.wav_renderer,
                    "draw_index": output.draw_index,
                    "score": None if output.score is None else output.score.to_json(),
                    "controls": None if output.achieved is None else output.achieved.to_json(),
                }
                for output in self.outputs
            ],
            "combined": None if self.combined is None else str(self.combined),
            "key": None if self.steering is None or self.steering.song_key is None else self.steering.song_key.to_json(),
            "controls": None if self.steering is None else self.steering.to_json(),
            "pool": self.pool,
            "redraws": [
                {"k": redraw.k, "bars": [redraw.bars.first, redraw.bars.last], "attempt": redraw.attempt,
                 "reason": redraw.reason}
                for redraw in self.redraws
            ],
            "warnings": list(self.warnings),
        }
