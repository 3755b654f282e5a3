"""What an edit does to a track's notes: which it replaces, which it shortens, what it adds, how loud.

The surgical writer (``midi_write.write_edited_song``) applies an :class:`EditPlan` to the events
of one track chunk; everything here is pure and works on the notes the reader paired.

The rules, as a musician would check them:

* **A note belongs to the bar its quantized onset falls in.** Onsets are rounded to the nearest
  16th step of the song grid, exactly half a step rounding later (``melody.quantize_track``), so a
  note played a few ticks before a bar line belongs to the bar after it.
* **The edited voice.** With ``voice="top"`` (the default) it is the track's top voice
  (``voices``): at each onset the highest sounding note. Only the top voice's notes of the target
  bars are replaced; every other note there (the accompaniment under the melody) keeps all its
  events exactly. With ``voice="all"`` every note of the track whose onset falls in the target is
  replaced.
* **A note of the target is replaced whole**: its note-on and note-off both go, also when its raw
  onset is a few ticks before the bar line or it sounds on past the target.
* **A note outside the target keeps every event at the same tick**, its note-off included, unless
  a new note starts while it still sounds: a melody line does not overlap itself, so a note of the
  edited voice then ends where that new note starts. Likewise a new note ends where a kept note of
  the edited voice after it starts, when that note starts before the new one would end.
* **A hold at the first target step never extends a note from before the target**: it becomes a
  new note of that pitch starting at the target (a leading hold after a rest is a rest).
* **Exact copies stay exact**: a new note with the pitch, onset step and end step of a target
  note (the end where the line's next note starts, at most the target's end) is that note left
  unchanged: it keeps its events, ticks and velocity (``vary --amount 0``, interpolation ends
  copied from an infill, and every note the model did not change).
* **Timing follows the context's feel** (``feel``): a new note takes the median offset from the
  grid of the context's notes on its position in the beat (swing, push and lag), a whole file's
  constant offset as a shift, clamped inside the target and before the next note.
* **Velocity follows the context's accent pattern**: a new note takes the median velocity of the
  edited voice's notes outside the target, in the window of bars around it, that start on the same
  position in their bar (the same 16th step from the bar line); with none there, the median of the
  edited voice's notes in the whole track; 80 for a track without notes.
"""

from __future__ import annotations

import functools
import statistics
from dataclasses import dataclass
from typing import Callable, Sequence

from clsm_cli.music.bars import Bar, BarRange, bar_at_step, window_around
from clsm_cli.music.feel import context_feel, felt_ticks
from clsm_cli.music.melody import VoicedNote, split_top_voice
from clsm_cli.music.song import MidiNote, MidiTrack, PairedNote
from clsm_cli.music.tokens import StepNote

DEFAULT_VELOCITY = 80  # for new notes when the track has none to take a median from
VOICES = ("top", "all")  # --voice: the top voice of the track, or all of its notes


@dataclass(frozen=True)
class NewNote:
    """A note the edit adds, in ticks."""

    start_tick: int
    end_tick: int
    pitch: int
    velocity: int


@dataclass(frozen=True)
class EditPlan:
    """What an edit changes in one track; positions index the paired notes it was planned on."""

    replaced: frozenset[int]  # notes removed whole (note-on and note-off)
    shortened: dict[int, int]  # note -> the tick its note-off moves to (a new note starts there)
    new_notes: tuple[NewNote, ...]  # by start tick
    kept_under_melody: int  # notes of the target under the top voice left exactly as they were
    unchanged: int = 0  # target notes the new line left as they were (kept whole: exact copies)


def voiced_notes(paired: Sequence[PairedNote], bars: Sequence[Bar], ticks_per_beat: int, voice: str):
    """(edited voice, other notes) of ``paired`` as :class:`VoicedNote` whose ``index`` is the
    position in ``paired``. Zero-length notes are silent: in neither part, so never touched.

    Every output of one song splits the same notes: the split is remembered by value (the notes,
    bars and voice themselves, all immutable), so a file's n outputs split its track once."""
    if voice not in VOICES:
        raise ValueError(f"voice must be one of {', '.join(VOICES)}, got {voice!r}")
    return _voiced_notes(tuple(paired), tuple(bars), ticks_per_beat, voice)


@functools.lru_cache(maxsize=8)
def _voiced_notes(paired: tuple[PairedNote, ...], bars: tuple[Bar, ...], ticks_per_beat: int, voice: str):
    sounding = [position for position, note in enumerate(paired) if note.end_tick > note.start_tick]
    if not sounding:
        return (), ()
    notes = [MidiNote(paired[i].start_tick, paired[i].end_tick, paired[i].pitch, paired[i].velocity) for i in sounding]
    as_track = MidiTrack(0, 0, 0, "", 0, False, notes)
    split = split_top_voice(as_track, bars, ticks_per_beat)

    def renumbered(part) -> tuple[VoicedNote, ...]:
        return tuple(VoicedNote(sounding[n.index], n.note, n.start_step, n.end_step) for n in part)

    top, others = renumbered(split.top), renumbered(split.others)
    if voice == "all":
        return tuple(sorted(top + others, key=lambda n: (n.start_step, -n.note.pitch))), ()
    return top, others


def accent_velocity(
    voice_notes: Sequence[VoicedNote], bars: Sequence[Bar], target: BarRange
) -> Callable[[int], int]:
    """The velocity for a new note starting at a song step: the median of the context notes on the
    same position in their bar, else the median of all ``voice_notes`` (see the module docstring)."""
    first_step, end_step = target.step_span(bars)
    window_start, window_end = window_around(target, len(bars)).step_span(bars)
    by_position: dict[int, list[int]] = {}
    for voiced in voice_notes:
        if window_start <= voiced.start_step < window_end and not first_step <= voiced.start_step < end_step:
            position = voiced.start_step - bar_at_step(bars, voiced.start_step).first_step
            by_position.setdefault(position, []).append(voiced.note.velocity)
    everything = [voiced.note.velocity for voiced in voice_notes]
    fallback = _median_velocity(everything) if everything else DEFAULT_VELOCITY

    def velocity(step: int) -> int:
        same_position = by_position.get(step - bar_at_step(bars, step).first_step)
        return _median_velocity(same_position) if same_position else fallback

    return velocity


def _median_velocity(velocities: Sequence[int]) -> int:
    return max(1, min(127, int(statistics.median(velocities) + 0.5)))


def plan_edit(
    paired: Sequence[PairedNote],
    bars: Sequence[Bar],
    ticks_per_beat: int,
    target: BarRange,
    new_notes: Sequence[StepNote],
    voice: str = "top",
    copies: Sequence[VoicedNote] = (),
    triplet_steps: frozenset[int] = frozenset(),
) -> EditPlan:
    """The plan for replacing the edited voice of ``paired`` in ``target`` by ``new_notes`` (on the
    song step grid, inside the target; a ``tied_from_before`` note of unknown pitch is a rest).

    ``copies`` are the target notes of another version of these bars (an interpolation's end taken
    from another file): a new note equal to one of them is written with its ticks and velocity.
    ``triplet_steps`` are the quarters (song steps) of the target played as triplets: there a new
    note on the quarter's 16th step 1 or 3 starts (or ends) at 1/3 or 2/3 of the quarter."""
    edited, others = voiced_notes(paired, bars, ticks_per_beat, voice)
    first_step, end_step = target.step_span(bars)
    in_target = [n for n in edited if first_step <= n.start_step < end_step]
    kept = [n for n in edited if not first_step <= n.start_step < end_step]
    velocity = accent_velocity(edited, bars, target)

    line = sorted((n for n in new_notes if n.pitch is not None), key=lambda n: (n.start_step, n.pitch))
    originals = _originals_by_line_key(edited, in_target, end_step)
    unchanged = {index: originals[key] for index, note in enumerate(line)
                 if (key := (note.pitch, note.start_step, note.end_step)) in originals}
    stays = kept + list(unchanged.values())  # notes whose events stay where they are
    copied = _originals_by_line_key(copies, copies, end_step)

    first_tick = bars[target.first - 1].start_tick
    next_onset = min((n.note.start_tick for n in kept if n.start_step >= end_step), default=_NO_TICK)
    ticks = felt_ticks([(n.start_step, n.end_step) for n in line], context_feel(_feel_context(kept, bars, target),
                       bars, ticks_per_beat), bars, ticks_per_beat, first_tick, next_onset, triplet_steps)
    additions = []
    for index, note in enumerate(line):
        if index in unchanged:
            continue  # an exact copy: its original events stay, ticks and velocity
        source = copied.get((note.pitch, note.start_step, note.end_step))
        if source is not None:  # an exact copy of the other version's note
            start, end = source.note.start_tick, source.note.end_tick
            end = min([end] + [n.note.start_tick for n in stays if start < n.note.start_tick < end])
            additions.append(NewNote(start, end, note.pitch, source.note.velocity))
            continue
        start, end = ticks[index]
        # A note that stays and starts while this one would still sound ends it there.
        end = min([end] + [n.note.start_tick for n in stays if start < n.note.start_tick < end])
        if end > start:
            additions.append(NewNote(start, end, note.pitch, velocity(note.start_step)))

    shortened = {}
    for staying in stays:
        starts_inside = [n.start_tick for n in additions if staying.note.start_tick < n.start_tick < staying.note.end_tick]
        if starts_inside:
            shortened[staying.index] = min(starts_inside)
    kept_under = sum(1 for n in others if first_step <= n.start_step < end_step)
    replaced = frozenset(n.index for n in in_target) - {n.index for n in unchanged.values()}
    return EditPlan(replaced, shortened, tuple(additions), kept_under, len(unchanged))


_NO_TICK = 1 << 62  # no note after the target


def _originals_by_line_key(edited: Sequence[VoicedNote], in_target: Sequence[VoicedNote], end_step: int):
    """The target's notes by what the model writes when it leaves one unchanged: (pitch, onset
    step, end step) with the end where the line's next note starts (the model's line never
    overlaps itself) and at most the target's end (a note sounding on past it ends there)."""
    starts = sorted({n.start_step for n in edited})
    by_key = {}
    for note in in_target:
        later = [start for start in starts if start > note.start_step]
        line_end = min([note.end_step] + later[:1] + [end_step])
        by_key.setdefault((note.note.pitch, note.start_step, line_end), note)
    return by_key


def _feel_context(kept: Sequence[VoicedNote], bars: Sequence[Bar], target: BarRange):
    """The context notes whose timing new notes take: the edited voice's in the window of bars
    around the target (as for velocities), with their ticks and steps."""
    window_start, window_end = window_around(target, len(bars)).step_span(bars)
    return [(n.note.start_tick, n.start_step) for n in kept if window_start <= n.start_step < window_end]
