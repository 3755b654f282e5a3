"""What the model sees around a target where the melody is silent (an intro, a part that enters late).

A window of rests makes the model predict rests, so when the melody track has no note anywhere in
the target's window the model is shown, for context only, the melody of the nearest bars where it
plays, moved by whole bars so that they sit right after the target (or right before it, when that
is nearer or nothing follows). When the melody track is silent throughout, the context is the top
line of the song's other pitched tracks. The written file is spliced into the song's own (silent)
line: only the target bars change.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Optional, Sequence

from clsm_cli.editing.prepare import PreparedSong
from clsm_cli.editing.window import bars_per_window
from clsm_cli.music import melody
from clsm_cli.music.bars import BarRange, bar_at_step, window_around
from clsm_cli.music.tokens import StepNote


@dataclass(frozen=True)
class ContextLine:
    """The line the model sees outside the target, and a sentence for the summary when it is not
    the melody's own (None when it is)."""

    line: tuple[StepNote, ...]
    note: Optional[str] = None


def context_line(prepared: PreparedSong, target: BarRange, config) -> ContextLine:
    """The melody itself when it plays in the target's window; otherwise a borrowed context (pure)."""
    window = window_around(target, len(prepared.bars), bars_per_window(config))
    first_step, end_step = window.step_span(prepared.bars)
    line = prepared.line
    if any(first_step <= note.start_step < end_step for note in line):
        return ContextLine(tuple(line))
    if line:
        return _nearest_melody(prepared, target, first_step, end_step)
    others = _other_tracks_top_line(prepared)
    if not others:
        return ContextLine(tuple(line))
    return ContextLine(others, f"the melody track is silent throughout {prepared.path.name}; the model hears the "
                               "top line of the other tracks around the bars")


def _nearest_melody(prepared: PreparedSong, target: BarRange, first_step: int, end_step: int) -> ContextLine:
    bars, line = prepared.bars, prepared.line
    start, end = prepared.target_steps(target)
    after = next((note for note in line if note.start_step >= end_step), None)
    before = next((note for note in reversed(line) if note.start_step < first_step), None)
    use_after = after is not None and target.last < len(bars) and (
        before is None or after.start_step - end <= start - before.end_step or target.first == 1)
    if use_after:
        source_bar = bar_at_step(bars, after.start_step)
        shift = source_bar.first_step - bars[target.last].first_step  # its bar lands right after the target
        where = f"bar {source_bar.number}"
    else:
        source_bar = bar_at_step(bars, before.start_step)
        shift = source_bar.first_step - bars[target.first - 2].first_step if target.first > 1 else 0
        where = f"bar {source_bar.number}"
    moved = tuple(replace(note, start_step=note.start_step - shift, end_step=note.end_step - shift,
                          tied_from_before=False)
                  for note in line if note.start_step - shift >= 0 and not start <= note.start_step - shift < end)
    return ContextLine(moved, f"the melody track is silent around {target}; the model hears the melody from "
                              f"{where} on as their context")


def _other_tracks_top_line(prepared: PreparedSong) -> tuple[StepNote, ...]:
    """The highest note at each moment of the song's other pitched tracks, as one line."""
    notes = []
    for track in prepared.song.tracks:
        if track.is_drum or track.number == prepared.track.number or not track.notes:
            continue
        notes += melody.quantize_track(track, list(prepared.bars), prepared.song.ticks_per_beat).notes
    line, _ = melody.reduce_to_monophony(sorted(notes, key=lambda note: (note.start_step, note.pitch)))
    return tuple(sorted(line, key=lambda note: note.start_step))


def with_new_notes(context: Sequence[StepNote], version_line: Sequence[StepNote], start: int, end: int) -> list[StepNote]:
    """A later chunk's view: the borrowed context outside ``start..end`` of the whole target, and the
    notes generated so far inside it."""
    outside = [note for note in context if not start <= note.start_step < end]
    inside = [note for note in version_line if start <= note.start_step < end]
    return sorted(outside + inside, key=lambda note: note.start_step)
