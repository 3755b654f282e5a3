"""One ``clsm explore`` session without any UI: a song, its target bars, one loaded model, the
ranked pool of candidates drawn so far, the latent grid, and the files kept or accepted.

Everything musical goes through ``clsm_cli.editing``, on the path ``infill`` takes: the song is
prepared as ``infill`` prepares it (``verbs.prepare_for_model``), its controls resolved by
``steering.resolve_steering`` (the default register, the top-voice rule, a silent target's borrowed
context and one note per bar) from the ``s`` panel's :class:`EditControls`, and the pool drawn under
``steering.line_rules``' step masks and ranked by ``pools.ranked`` (``draw.draw_pool``: redraws of
silent, copied or out-of-control draws, the fit score). So candidate k is ``infill``'s output k for
the same seed, bars, model and controls. The pool is drawn when the session opens and on ``r``
(:meth:`ExploreSession.draw_more`: the next draw indices, each draw made once and kept, the whole
pool ranked again as ``infill --pool N`` ranks it), never on a keypress that only moves.

Grid cells are decoded as ``interpolate`` decodes its steps (a point between latents in W,
``engine/latent.interpolate_w``, anchor uniforms blended between the corners, the same step
masks), when first asked for (the app's cold path). Kept files are written by the surgical writer
with ``infill``'s provenance record plus the draw index and score, so ``interpolate --start/--end``
and ``vary --around`` continue from them.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from clsm_cli.constants import MAX_TARGET_BARS
from clsm_cli.editing import generate
from clsm_cli.editing.draw import pool_size
from clsm_cli.editing.endpoints import target_note_rows
from clsm_cli.editing.generate import Candidate
from clsm_cli.editing.model_choice import EditModels
from clsm_cli.editing.options import EditOptions, FileResult, Latent, check_options, output_path
from clsm_cli.editing.pools import Draft, ranked
from clsm_cli.editing.prepare import PreparedSong, target_warnings
from clsm_cli.editing.provenance import next_generation, parse_provenance, provenance_record, provenance_text
from clsm_cli.editing.ranking import Score
from clsm_cli.editing.silent import context_line
from clsm_cli.editing.splice import edited_track_notes, notes_for_writer, splice, target_notes, target_triplet_steps
from clsm_cli.editing.steering import line_rules, resolve_steering
from clsm_cli.editing.verbs import prepare_for_model
from clsm_cli.editing.window import ModelWindow, centred_window, short_song_warning, target_tokens_of
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
MORE_DRAWS = 4  # pool members `r` draws when the panel sets no pool size


@dataclass
class Entry:
    """One version of the target the app can show, play, keep or accept."""

    label: str  # "original", "candidate 3", "grid 2,4"
    number: int  # rank k in the pool, best first (0: the original; grid cells: 0)
    candidate: Optional[Candidate] = None  # tokens and w once decoded
    line: Optional[tuple[StepNote, ...]] = None  # the whole melody line with this target
    score: Optional[Score] = None  # the fit score and its parts (None: not drawn)
    grid: Optional[tuple[int, int]] = None  # (x, y), 1-based, for grid cells
    draw_index: int = 0  # pool member j: its random numbers (0: not drawn)
    triplet_steps: frozenset = frozenset()  # target quarters written as triplets (triplet grid)

    @property
    def decoded(self) -> bool:
        return self.line is not None


@dataclass(frozen=True)
class _Drawn:
    """A pool member as ``pools.ranked`` judges it: its spliced line (and, once ranked, its score)."""

    line: tuple[StepNote, ...]
    candidate: Candidate
    draw_index: int
    score: Optional[Score] = None


@dataclass
class Grid:
    """A GRID_SIZE x GRID_SIZE grid between four decoded candidates (corners, clockwise from top left)."""

    corners: tuple[Entry, Entry, Entry, Entry]
    w: np.ndarray  # (GRID_SIZE, GRID_SIZE, z_dim): row y, column x
    uniforms: Optional[np.ndarray]  # (GRID_SIZE, GRID_SIZE, length), None for argmax decoding
    cells: dict = field(default_factory=dict)  # (x, y) -> Entry, 1-based


class ExploreSession:
    """The song, its target, the model and the ranked pool: what the app shows and acts on."""

    def __init__(self, path: Path, options: EditOptions, models: EditModels,
                 controls: EditControls = EditControls(), root_stem: Optional[str] = None, accepted: int = 0):
        if options.bars.count > MAX_TARGET_BARS:
            raise UsageError(f"explore changes at most {MAX_TARGET_BARS} bars at a time, got {options.bars} "
                             f"({options.bars.count} bars)")
        self.controls = controls
        self.given_options = options  # as the command gave them; the panel's controls apply on top
        self.options = replace(options, controls=controls.request(),
                               pool=controls.pool if controls.pool is not None else options.pool, rank=True)
        self.models = models
        edit_options = self._edit_options()
        self.model, self.decoding = models.for_file(Path(path), edit_options)
        self.prepared: PreparedSong = prepare_for_model(Path(path), edit_options, self.model)
        self.root_stem = root_stem or self.prepared.path.stem
        self.accepted = accepted  # songs accepted so far (accepted-<n>)
        prepared, bars, config = self.prepared, self.options.bars, self.model.config
        self.warnings = list(prepared.warnings) + target_warnings(prepared, bars, self.options.voice)
        # The steering and the context infill uses (verbs._run_edit, verbs._infill_pool).
        context = context_line(prepared, bars, config)
        self.steering = resolve_steering(prepared, bars, self.options.controls, config, self.options.voice,
                                         context=context.line)
        if self.steering.silent_target:
            self.warnings.append(f"the melody track is silent in {bars}: writing a new melody there "
                                 "(at least one note per bar)")
        self.heard = context.line if context.note is not None else prepared.line
        self.warnings += [note for note in (context.note,) if note]
        self.window: ModelWindow = centred_window(prepared, self.heard, bars, config)
        self.warnings += [note for note in (short_song_warning(prepared, self.window, config),) if note]
        self.rules = line_rules(self.steering, prepared, self.window, bars, self.heard,
                                target_tokens_of(prepared.line, self.window), config.num_music_tokens)
        self.start, self.end = prepared.target_steps(bars)
        original = Candidate(self.window.tokens[self.window.target.start : self.window.target.end].copy(),
                             np.zeros(config.z_dim, np.float32))
        self.entries = [Entry("original", 0, original, tuple(prepared.line))]
        self.pool = 0  # members drawn so far (draw indices 1..pool)
        self.redraws: list = []  # the last ranking's redraws and drops (FileResult.redraws)
        self._draws: dict[tuple[int, int], Draft] = {}  # (draw index, attempt) -> its draw, made once
        self._members: dict[int, Entry] = {}  # draw index -> its entry (kept across rankings)
        self.grid: Optional[Grid] = None
        self.generation = next_generation(parse_provenance(prepared.song.text_events))
        self.draw_more(pool_size(self.options.pool, self.options.num))

    def _edit_options(self) -> EditOptions:
        """The options as ``infill`` would take them (checked by infill's rules)."""
        options = replace(self.options, verb="infill")
        check_options(options)
        return options

    # --- the pool -----------------------------------------------------------------------------

    @property
    def candidates(self) -> list[Entry]:
        """The pool's members, best first."""
        return self.entries[1:]

    def draw_more(self, count: int) -> list[Entry]:
        """Draw the next ``count`` pool members (draw indices after the last) and rank the whole pool
        again, as ``infill --pool <all drawn so far>`` ranks it; returns the members new in the list.
        InputFileError (infill's sentence) when no member is new music."""
        size = self.pool + int(count)
        result = FileResult(input=self.prepared.path, verb="infill", seed=self.options.seed, model=self.model.name,
                            model_sha256=self.model.sha256, bars=self.options.bars, decoding=self.decoding)
        options = replace(self._edit_options(), pool=size)
        members = ranked(self.prepared, options, self.model, result, self.steering, self._draw, (), size, self.heard)
        self.pool = size
        self.redraws = list(result.redraws)
        added, entries = [], [self.entries[0]]
        for k, member in enumerate(members, start=1):
            entry = self._members.get(member.draw_index)
            if entry is None:
                entry = Entry("", 0, member.candidate, member.line, member.score, draw_index=member.draw_index,
                              triplet_steps=target_triplet_steps(member.candidate.tokens, self.window))
                self._members[member.draw_index] = entry
                added.append(entry)
            entry.number, entry.label, entry.score = k, f"candidate {k}", member.score
            entries.append(entry)
        self.entries = entries
        return added

    def _draw(self, indices: Sequence[int], attempt: int) -> list[Draft]:
        """Pool members ``indices`` (redraw ``attempt``) as infill's first chunk draws them
        (verbs._infill_pool): the window of what the model hears, the step masks; each draw once."""
        missing = [j for j in indices if (j, attempt) not in self._draws]
        if missing:
            drawn = generate.infill(self.model.engine, self.window.tokens, self.window.target, self.decoding,
                                    self.options.seed, missing, attempt=attempt, rules=self.rules)
            for j, candidate in zip(missing, drawn):
                line = splice(self.prepared.line, self.start, self.end,
                              target_notes(candidate.tokens, self.window, self.prepared.line))
                self._draws[(j, attempt)] = Draft(_Drawn(tuple(line), candidate, j), (candidate,))
        return [self._draws[(j, attempt)] for j in indices]

    def decode(self, entry: Entry) -> Entry:
        """Decode a grid cell if it is not yet (the cold path); returns it. Pool members are drawn
        with the pool (:meth:`draw_more`)."""
        if not entry.decoded and entry.grid is not None:
            return self._decode_cell(entry)
        return entry

    def _settle(self, entry: Entry, candidate: Candidate) -> Entry:
        entry.candidate = candidate
        new = target_notes(candidate.tokens, self.window, self.prepared.line)
        entry.line = tuple(splice(self.prepared.line, self.start, self.end, new))
        entry.triplet_steps = target_triplet_steps(candidate.tokens, self.window)
        return entry

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
            fallback = np.stack([candidate_draws(self.options.seed, max(1, entry.draw_index), ws.shape[1], length).token_uniforms
                                 for entry in corners])
            tokens = np.stack([entry.candidate.tokens for entry in corners])
            anchors = generate.anchored_uniforms(self.model.engine, self.window.tokens, self.window.target, tokens, ws,
                                                 self.decoding, fallback, self.rules)  # (4, length)
            alpha = (np.arange(GRID_SIZE) / (GRID_SIZE - 1))[:, None]
            top_u, bottom_u = (1 - alpha) * anchors[0] + alpha * anchors[1], (1 - alpha) * anchors[3] + alpha * anchors[2]
            uniforms = (1 - alpha[:, :, None]) * top_u[None] + alpha[:, :, None] * bottom_u[None]  # (G, G, length)
        self.grid = Grid(corners, w, uniforms)
        for (x, y), entry in zip(((1, 1), (GRID_SIZE, 1), (GRID_SIZE, GRID_SIZE), (1, GRID_SIZE)), corners):
            self.grid.cells[(x, y)] = Entry(f"grid {x},{y}", 0, entry.candidate, entry.line, entry.score, (x, y),
                                            entry.draw_index, entry.triplet_steps)
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
                                         uniforms, self.rules)
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
        return ExploreSession(path, self.given_options, self.models, controls=self.controls, root_stem=self.root_stem,
                              accepted=number)

    def with_bars(self, bars: BarRange) -> "ExploreSession":
        """The same song (as it is now) with other target bars."""
        return ExploreSession(self.prepared.path, replace(self.given_options, bars=bars), self.models,
                              controls=self.controls, root_stem=self.root_stem, accepted=self.accepted)

    def with_controls(self, controls: EditControls) -> "ExploreSession":
        """The same target with other controls: the pool is drawn again under them (a setting this
        song cannot meet is infill's InputFileError, and this session stays as it was)."""
        return ExploreSession(self.prepared.path, self.given_options, self.models, controls, self.root_stem,
                              self.accepted)

    def _write(self, entry: Entry, path: Path) -> Path:
        self.decode(entry)
        Path(self.options.out_dir).mkdir(parents=True, exist_ok=True)
        options = replace(self.options, verb=EXPLORE_VERB)
        result = FileResult(input=self.prepared.path, verb=EXPLORE_VERB, seed=options.seed, model=self.model.name,
                            model_sha256=self.model.sha256, bars=options.bars, decoding=self.decoding,
                            octave_shift=self.window.octave_shift, grid=self.model.config.grid_encoding)
        w = self._latent_of(entry)
        record = provenance_record(result, entry.number, (Latent(options.bars, w),), self.generation, options,
                                   target_note_rows(entry.line, self.start, self.end))
        record["draw_index"] = entry.draw_index  # the pool member: its random numbers, as infill records it
        if entry.score is not None:
            record["score"] = entry.score.to_json()
        if entry.grid is not None:
            record["grid"] = list(entry.grid)
        return write_edited_song(self.prepared.song, self.prepared.track, list(self.prepared.bars), options.bars,
                                 notes_for_writer(entry.line, self.start, self.end), path, provenance_text(record),
                                 voice=options.voice, triplet_steps=entry.triplet_steps)


class _TickClock:
    """Song ticks to seconds after ``origin_tick``, through the song's tempo map."""

    def __init__(self, tempos: Sequence[tuple[int, int]], ticks_per_beat: int, origin_tick: int):
        self.tempos = sorted(tempos) or [(0, 500_000)]
        self.ticks_per_beat = ticks_per_beat
        self.origin = self._absolute(origin_tick)

    def _absolute(self, tick: int) -> float:
        # Before tick 0 (bar 1 padded before the file, music/bars.py) the song's first tempo holds.
        seconds, last_tick, tempo = 0.0, 0, self.tempos[0][1] if self.tempos[0][0] <= 0 else 500_000
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

