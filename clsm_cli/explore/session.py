"""One ``clsm explore`` session without any UI: a song, its target bars, one loaded model, the
candidates drawn so far, the latent grid, and the files kept or accepted.

Everything musical goes through ``clsm_cli.editing``: the song is prepared as ``infill`` prepares it
(``verbs.prepare_for_model``), the window is ``window.centred_window``, candidate j is infill's
candidate j for the same seed (``generate.infill`` with its draws, drawn again while it is all
rests or the original bars, as ``infill`` does), grid cells are decoded as ``interpolate`` decodes
its steps (a point between latents in W, ``engine/latent.interpolate_w``, with anchor uniforms
blended between the corners), and kept files are written by the surgical writer with the same
provenance record ``infill`` writes, so ``interpolate --start/--end`` and ``vary --around`` continue
from them. Candidates and grid cells are decoded when first asked for (the app's cold path).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from clsm_cli.constants import MAX_TARGET_BARS, NUM_MUSIC_TOKENS
from clsm_cli.editing import generate
from clsm_cli.editing.endpoints import target_note_rows
from clsm_cli.editing.generate import Candidate
from clsm_cli.editing.model_choice import EditModels
from clsm_cli.editing.options import EditOptions, FileResult, Latent, check_options, output_path
from clsm_cli.editing.prepare import PreparedSong, target_warnings
from clsm_cli.editing.provenance import next_generation, parse_provenance, provenance_record, provenance_text
from clsm_cli.editing.splice import edited_track_notes, notes_for_writer, splice, target_notes
from clsm_cli.editing.draw import MAX_DRAWS, token_problem
from clsm_cli.editing.verbs import prepare_for_model
from clsm_cli.editing.window import ModelWindow, centred_window, target_tokens_of
from clsm_cli.engine.draws import candidate_draws
from clsm_cli.engine.latent import interpolate_w
from clsm_cli.errors import OutputError, UsageError
from clsm_cli.explore.controls import EditControls
from clsm_cli.music.bars import BarRange, step_to_tick
from clsm_cli.music.midi_write import write_edited_song
from clsm_cli.music.synth import SoundingNote
from clsm_cli.music.tokens import StepNote

GRID_SIZE = 5  # cells per side of the latent grid; its corners are the four candidates
EXPLORE_VERB = "explore"  # the verb kept files record (and name themselves by)


@dataclass
class Entry:
    """One version of the target the app can show, play, keep or accept."""

    label: str  # "original", "candidate 3", "grid 2,4"
    number: int  # candidate number j (0: the original; grid cells: 0)
    candidate: Optional[Candidate] = None  # tokens and w once decoded
    line: Optional[tuple[StepNote, ...]] = None  # the whole melody line with this target
    score: Optional[float] = None  # the model's mean log-likelihood per target token
    grid: Optional[tuple[int, int]] = None  # (x, y), 1-based, for grid cells

    @property
    def decoded(self) -> bool:
        return self.line is not None


@dataclass
class Grid:
    """A GRID_SIZE x GRID_SIZE grid between four decoded candidates (corners, clockwise from top left)."""

    corners: tuple[Entry, Entry, Entry, Entry]
    w: np.ndarray  # (GRID_SIZE, GRID_SIZE, z_dim): row y, column x
    uniforms: Optional[np.ndarray]  # (GRID_SIZE, GRID_SIZE, length), None for argmax decoding
    cells: dict = field(default_factory=dict)  # (x, y) -> Entry, 1-based


class ExploreSession:
    """The song, its target, the model and the candidates: what the app shows and acts on."""

    def __init__(self, path: Path, options: EditOptions, models: EditModels,
                 controls: EditControls = EditControls(), root_stem: Optional[str] = None, accepted: int = 0):
        if options.bars.count > MAX_TARGET_BARS:
            raise UsageError(f"explore changes at most {MAX_TARGET_BARS} bars at a time, got {options.bars} "
                             f"({options.bars.count} bars)")
        self.options = options
        self.models = models
        self.model, self.decoding = models.for_file(Path(path), self._edit_options())
        self.prepared: PreparedSong = prepare_for_model(Path(path), self._edit_options(), self.model)
        self.controls = controls
        self.root_stem = root_stem or self.prepared.path.stem
        self.accepted = accepted  # songs accepted so far (accepted-<n>)
        self.warnings = list(self.prepared.warnings) + target_warnings(self.prepared, options.bars, options.voice)
        self.window: ModelWindow = centred_window(self.prepared, self.prepared.line, options.bars, self.model.config)
        self.start, self.end = self.prepared.target_steps(options.bars)
        original = Candidate(self.window.tokens[self.window.target.start : self.window.target.end].copy(),
                             np.zeros(self.model.config.z_dim, np.float32))
        self._original_tokens = target_tokens_of(self.prepared.line, self.window)
        self._original_has_notes = any(self.start <= note.start_step < self.end for note in self.prepared.line)
        self.entries = [Entry("original", 0, original, tuple(self.prepared.line))]
        self.entries[0].score = self._score(original.tokens, None)
        self.more(options.num)
        self.grid: Optional[Grid] = None
        self.generation = next_generation(parse_provenance(self.prepared.song.text_events))

    def _edit_options(self) -> EditOptions:
        """The options as ``infill`` would take them (checked by infill's rules)."""
        options = replace(self.options, verb="infill")
        check_options(options)
        return options

    # --- candidates ---------------------------------------------------------------------------

    def more(self, count: int) -> list[Entry]:
        """Add ``count`` candidates (numbered after the last), not decoded yet."""
        first = max((entry.number for entry in self.entries), default=0) + 1
        added = [Entry(f"candidate {j}", j) for j in range(first, first + int(count))]
        self.entries.extend(added)
        return added

    def decode(self, entry: Entry) -> Entry:
        """Decode a candidate or grid cell if it is not yet (the cold path); returns it."""
        if entry.decoded:
            return entry
        if entry.grid is not None:
            return self._decode_cell(entry)
        candidate = self._draw(entry.number, 0)
        for attempt in range(1, MAX_DRAWS):
            earlier = [other.candidate.tokens for other in self.entries
                       if other.decoded and other.number and other.grid is None and other.candidate is not None]
            if token_problem(candidate.tokens, self._original_tokens, earlier) is None:
                break
            candidate = self._draw(entry.number, attempt)
        return self._settle(entry, candidate)

    def _draw(self, number: int, attempt: int) -> Candidate:
        """The one editing call that draws a candidate: where the ``s`` panel's controls go.

        ``self.controls.request_arguments()`` holds the decoding controls the panel collected (key,
        range, keep rhythm, max leap, density) by the editing layer's request fields, and
        ``self.controls.pool`` the pool size; the editing layer's infill takes them here once it
        accepts decoding controls.
        """
        (candidate,) = generate.infill(self.model.engine, self.window.tokens, self.window.target, self.decoding,
                                       self.options.seed, (number,), attempt=attempt)
        return candidate

    def _settle(self, entry: Entry, candidate: Candidate) -> Entry:
        entry.candidate = candidate
        new = target_notes(candidate.tokens, self.window, self.prepared.line)
        entry.line = tuple(splice(self.prepared.line, self.start, self.end, new))
        entry.score = self._score(candidate.tokens, candidate.w, candidate)
        return entry

    def _score(self, tokens: np.ndarray, w: Optional[np.ndarray], drawn: Optional[Candidate] = None) -> float:
        """The model's mean log-likelihood per target token: what the candidate record carries
        (``log_probs``, where the editing layer records them), else teacher-forced under its own
        latent (the original: the posterior's)."""
        log_probs = getattr(drawn, "log_probs", None)
        if log_probs is not None:
            return float(np.mean(log_probs))
        engine, target = self.model.engine, self.window.target
        framed = self.window.tokens.copy()
        framed[target.start : target.end] = tokens
        if w is None:
            w = generate.encode_w(engine, framed, target)
        logits = engine.teacher_forced_logits(framed, target, engine.flow_inverse(np.asarray(w, np.float32)[None]))
        logits = np.asarray(logits[0], dtype=np.float64)[:, :NUM_MUSIC_TOKENS]  # (length, C)
        log_probs = logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)
        return float(np.mean(log_probs[np.arange(len(tokens)), np.asarray(tokens, dtype=np.int64)]))

    # --- the grid -----------------------------------------------------------------------------

    def open_grid(self, corners: Sequence[Entry]) -> Grid:
        """A grid between four candidates, decoded as interpolate decodes its steps (cells on demand)."""
        corners = tuple(self.decode(entry) for entry in corners)
        if len(corners) != 4:
            raise UsageError("the grid needs four candidates")
        ws = np.stack([self._latent_of(entry) for entry in corners])  # (4, z_dim)
        top = interpolate_w(ws[0], ws[1], GRID_SIZE - 1)  # (G, z_dim), x from left to right
        bottom = interpolate_w(ws[3], ws[2], GRID_SIZE - 1)
        w = np.stack([interpolate_w(top[x], bottom[x], GRID_SIZE - 1) for x in range(GRID_SIZE)], axis=1)  # (G, G, z)
        uniforms = None
        if not self.decoding.is_argmax:
            length = self.window.target.length
            fallback = np.stack([candidate_draws(self.options.seed, max(1, entry.number), ws.shape[1], length).token_uniforms
                                 for entry in corners])
            tokens = np.stack([entry.candidate.tokens for entry in corners])
            anchors = generate.anchored_uniforms(self.model.engine, self.window.tokens, self.window.target, tokens, ws,
                                                 self.decoding, fallback)  # (4, length)
            alpha = (np.arange(GRID_SIZE) / (GRID_SIZE - 1))[:, None]
            top_u, bottom_u = (1 - alpha) * anchors[0] + alpha * anchors[1], (1 - alpha) * anchors[3] + alpha * anchors[2]
            uniforms = (1 - alpha[:, :, None]) * top_u[None] + alpha[:, :, None] * bottom_u[None]  # (G, G, length)
        self.grid = Grid(corners, w, uniforms)
        for (x, y), entry in zip(((1, 1), (GRID_SIZE, 1), (GRID_SIZE, GRID_SIZE), (1, GRID_SIZE)), corners):
            self.grid.cells[(x, y)] = Entry(f"grid {x},{y}", 0, entry.candidate, entry.line, entry.score, (x, y))
        return self.grid

    def _latent_of(self, entry: Entry) -> np.ndarray:
        if entry.number == 0 and entry.grid is None:  # the original: its posterior latent
            return generate.encode_w(self.model.engine, self.window.tokens, self.window.target)
        return np.asarray(entry.candidate.w, np.float32)

    def cell(self, x: int, y: int) -> Entry:
        """Grid cell (x, y), 1-based; not decoded until :meth:`decode`."""
        if self.grid is None:
            raise UsageError("no grid is open")
        if not (1 <= x <= GRID_SIZE and 1 <= y <= GRID_SIZE):
            raise UsageError(f"grid cells run from 1 to {GRID_SIZE}, got {x},{y}")
        return self.grid.cells.setdefault((x, y), Entry(f"grid {x},{y}", 0, grid=(x, y)))

    def _decode_cell(self, entry: Entry) -> Entry:
        x, y = entry.grid
        w = self.grid.w[y - 1, x - 1][None]  # (1, z_dim)
        uniforms = None if self.grid.uniforms is None else self.grid.uniforms[y - 1, x - 1][None]
        (candidate,) = generate.decode_w(self.model.engine, self.window.tokens, self.window.target, w, self.decoding,
                                         uniforms)
        return self._settle(entry, candidate)

    # --- what the app shows and plays ----------------------------------------------------------

    def track_notes(self, entry: Entry) -> list[StepNote]:
        """The edited track's notes with this version's target (chords under the melody kept)."""
        self.decode(entry)
        prepared = self.prepared
        return edited_track_notes(prepared.all_notes, prepared.line, prepared.accompaniment, self.start, self.end,
                                  notes_for_writer(entry.line, self.start, self.end), self.options.voice)

    @property
    def shown_bars(self) -> BarRange:
        """The target and a bar of context either side (as far as the song has them)."""
        return BarRange(max(1, self.options.bars.first - 1), min(len(self.prepared.bars), self.options.bars.last + 1))

    def passage(self, entry: Entry) -> list[SoundingNote]:
        """What space plays: the shown bars with this version, the other tracks under it, in seconds."""
        prepared, bars = self.prepared, list(self.prepared.bars)
        song = prepared.song
        first_tick, end_tick = self.shown_bars.tick_span(bars)
        seconds = _TickClock(song.tempos, song.ticks_per_beat, first_tick)
        first_step, end_step = self.shown_bars.step_span(bars)
        velocity = int(np.median([note.velocity for note in prepared.track.notes])) if prepared.track.notes else 90
        notes = [SoundingNote(seconds(step_to_tick(bars, song.ticks_per_beat, max(note.start_step, first_step))),
                              seconds(step_to_tick(bars, song.ticks_per_beat, min(note.end_step, end_step))),
                              note.pitch, velocity, prepared.track.program, prepared.track.is_drum)
                 for note in self.track_notes(entry)
                 if note.pitch is not None and note.start_step < end_step and note.end_step > first_step]
        for track in song.tracks:
            if track is prepared.track:
                continue
            notes += [SoundingNote(seconds(max(note.start_tick, first_tick)), seconds(min(note.end_tick, end_tick)),
                                   note.pitch, note.velocity, track.program, track.is_drum)
                      for note in track.notes if note.start_tick < end_tick and note.end_tick > first_tick]
        return sorted(notes, key=lambda note: note.start_s)

    # --- files ---------------------------------------------------------------------------------

    def kept_path(self, entry: Entry) -> Path:
        """``<stem>.explore-bars<A>-<B>-s<seed>-<j>.mid`` (``-grid-<x>-<y>`` for a grid cell) in ``--out``,
        named after the song being edited (an accepted song's kept files carry its ``accepted-<n>``)."""
        k = f"grid-{entry.grid[0]}-{entry.grid[1]}" if entry.grid else entry.number
        return output_path(replace(self.options, verb=EXPLORE_VERB), self.prepared.path.stem, k)

    def keep(self, entry: Entry) -> Path:
        """Write this version into ``--out`` with its provenance, named as infill names outputs."""
        if entry.number == 0 and entry.grid is None:
            raise OutputError("the original bars are already in the song; choose a candidate to keep")
        return self._write(entry, self.kept_path(entry))

    def accept(self, entry: Entry) -> "ExploreSession":
        """Write the song with this version as ``<stem>.accepted-<n>.mid`` and go on editing that song."""
        number = self.accepted + 1
        while (Path(self.options.out_dir) / f"{self.root_stem}.accepted-{number}.mid").exists():
            number += 1
        path = self._write(entry, Path(self.options.out_dir) / f"{self.root_stem}.accepted-{number}.mid")
        return ExploreSession(path, self.options, self.models, controls=self.controls, root_stem=self.root_stem,
                                   accepted=number)

    def with_bars(self, bars: BarRange) -> "ExploreSession":
        """The same song (as it is now) with other target bars."""
        return ExploreSession(self.prepared.path, replace(self.options, bars=bars), self.models,
                                   controls=self.controls, root_stem=self.root_stem, accepted=self.accepted)

    def with_controls(self, controls: EditControls) -> "ExploreSession":
        """The same target with other controls: candidates are drawn again."""
        return ExploreSession(self.prepared.path, self.options, self.models, controls, self.root_stem, self.accepted)

    def _write(self, entry: Entry, path: Path) -> Path:
        self.decode(entry)
        Path(self.options.out_dir).mkdir(parents=True, exist_ok=True)
        options = replace(self.options, verb=EXPLORE_VERB)
        result = FileResult(input=self.prepared.path, verb=EXPLORE_VERB, seed=options.seed, model=self.model.name,
                            model_sha256=self.model.sha256, bars=options.bars, decoding=self.decoding,
                            octave_shift=self.window.octave_shift)
        w = self._latent_of(entry)
        record = provenance_record(result, entry.number, (Latent(options.bars, w),), self.generation, options,
                                   target_note_rows(entry.line, self.start, self.end))
        if entry.grid is not None:
            record["grid"] = list(entry.grid)
        return write_edited_song(self.prepared.song, self.prepared.track, list(self.prepared.bars), options.bars,
                                 notes_for_writer(entry.line, self.start, self.end), path, provenance_text(record),
                                 voice=options.voice)


class _TickClock:
    """Song ticks to seconds after ``origin_tick``, through the song's tempo map."""

    def __init__(self, tempos: Sequence[tuple[int, int]], ticks_per_beat: int, origin_tick: int):
        self.tempos = sorted(tempos) or [(0, 500_000)]
        self.ticks_per_beat = ticks_per_beat
        self.origin = self._absolute(origin_tick)

    def _absolute(self, tick: int) -> float:
        seconds, last_tick, tempo = 0.0, 0, 500_000
        for change_tick, value in self.tempos:
            if change_tick >= tick:
                break
            seconds += (change_tick - last_tick) * tempo / 1e6 / self.ticks_per_beat
            last_tick, tempo = change_tick, value
        return seconds + (tick - last_tick) * tempo / 1e6 / self.ticks_per_beat

    def __call__(self, tick: int) -> float:
        return self._absolute(tick) - self.origin


def quiet_models(model_arg: Optional[str], engine: str = "auto", device: str = "auto",
                 temperature: Optional[float] = None, top_p: Optional[float] = None) -> EditModels:
    """The models of a session, loaded on first use without a spinner (the app shows its own state)."""
    return EditModels(model_arg, engine, device, temperature, top_p, contextlib.nullcontext, lambda model, decoding: None)

