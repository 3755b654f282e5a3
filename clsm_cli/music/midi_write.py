"""Writing MIDI files: the surgical writer for edits, and two files for auditioning.

* :func:`write_edited_song` is the *surgical writer*: it replaces the chosen track's edited voice
  (its top voice, or all its notes with ``voice="all"``) in the target bars and leaves every other
  event as it was (tick, type, channel, data, order; every other chunk and channel). The rules are
  ``edit_plan``'s: a note belongs to the bar its quantized onset falls in; a note of the target is
  replaced whole; a note outside it keeps every event at the same tick, its note-off included,
  unless a new note starts while it still sounds (then it ends there); a hold at the first target
  step is a new note, never an extension of one before the target; new notes take the velocity of
  the context's notes on the same position in the bar. The only new events are the new notes, the
  moved note-offs and one provenance event (sequencer-specific, at tick 0). It removes and re-times the events the reader
  paired (``MidiSong.chunk_notes``): it never pairs notes itself.
* :func:`write_audition_file` writes the ``--combined`` file: the versions one after another, each
  a named track on its own channel, with a bar of context either side and the other tracks under it.
* Every write goes through :func:`clsm_cli.atomic.atomic_write` and refuses to overwrite an
  existing file without ``force``, and the input file ever.

Known limit: a system-exclusive continuation packet (``F7``) is written back as an ``F0`` packet.
"""

from __future__ import annotations

import io
import itertools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from clsm_cli.atomic import write_output
from clsm_cli.errors import OutputError
from clsm_cli.music.bars import Bar, BarRange, bar_at_tick, first_sounding_step, step_to_tick
from clsm_cli.music.midi_read import CLSM_SEQUENCER_PREFIX
from clsm_cli.music.mido_module import mido
from clsm_cli.music.edit_plan import accent_velocity, plan_edit, voiced_notes
from clsm_cli.music.song import MidiNote, MidiSong, MidiTrack, PairedNote
from clsm_cli.music.tokens import StepNote

RELEASE_VELOCITY = 64  # note-off velocity written for new notes (the spec's "no velocity sense")


def provenance_event(text: str) -> mido.MetaMessage:
    """A sequencer-specific meta event holding ``text`` (the provenance record) as UTF-8 after clsm's
    prefix (``midi_read.CLSM_SEQUENCER_PREFIX``): notation programs and DAWs do not show it, as they
    show text events (MuseScore prints those as lyrics), and ``read_text_events`` finds it."""
    return mido.MetaMessage("sequencer_specific", data=tuple(CLSM_SEQUENCER_PREFIX + text.encode("utf-8")))


def check_output_path(out_path: Path, force: bool, input_path: Path | None = None) -> None:
    """Refuse what must never be written: the input file, an existing file without force."""
    if input_path is not None:
        same = os.path.realpath(out_path) == os.path.realpath(input_path)
        try:
            same = same or (out_path.exists() and input_path.exists() and os.path.samefile(out_path, input_path))
        except OSError:
            pass
        if same:
            raise OutputError(f"refusing to write over the input file {input_path.name}; choose another output name")
    if out_path.is_dir():
        raise OutputError(f"{out_path} is a folder; give a file name for the output")
    if out_path.exists() and not force:
        raise OutputError(f"{out_path} already exists; use --force to overwrite it")
    parent = out_path.parent
    if not parent.is_dir():
        raise OutputError(f"cannot write {out_path.name}: the folder {parent} does not exist")



def write_output_bytes(out_path: Path, data: bytes, force: bool) -> Path:
    """Write ``data`` atomically (``atomic.write_output``); an OutputError sentence when that fails."""
    return write_output(out_path, data, force)


def _with_time(message, delta: int):
    """A copy of ``message`` with another delta time, bypassing mido's value checks (the message
    was accepted when read and must be written back exactly as it was)."""
    copy = message.copy()
    vars(copy)["time"] = delta
    return copy


def _to_delta_track(events: Sequence[tuple[int, object]]) -> mido.MidiTrack:
    """A mido track from (absolute tick, message) pairs already in order; ends with end_of_track."""
    track = mido.MidiTrack()
    now = 0
    for tick, message in events:
        track.append(_with_time(message, tick - now))
        now = tick
    if not track or track[-1].type != "end_of_track":
        track.append(mido.MetaMessage("end_of_track", time=0))
    return track


def _sorted_track(events: list[tuple[int, int, int, object]]) -> mido.MidiTrack:
    """A mido track from (tick, group, order, message) events, in that order (ties keep theirs)."""
    events.sort(key=lambda event: event[:3])
    return _to_delta_track([(tick, message) for tick, _, _, message in events])


def _file_bytes(midi_type: int, ticks_per_beat: int, chunks: list[mido.MidiTrack]) -> bytes:
    if midi_type == 0 and len(chunks) != 1:
        midi_type = 1
    buffer = io.BytesIO()
    mido.MidiFile(type=midi_type, ticks_per_beat=ticks_per_beat, tracks=chunks).save(file=buffer)
    return buffer.getvalue()


def note_messages(channel: int, pitch: int, velocity: int) -> tuple[mido.Message, mido.Message]:
    """The note-on (at ``velocity``) and note-off (at the release velocity) of one new note: how
    every writer here builds the notes it adds."""
    return (
        mido.Message("note_on", channel=channel, note=pitch, velocity=velocity),
        mido.Message("note_off", channel=channel, note=pitch, velocity=RELEASE_VELOCITY),
    )


def _notes_of_track(song: MidiSong, track: MidiTrack) -> list[PairedNote]:
    """The notes the reader paired in the track's chunk on its channel, with their event indices."""
    if track.chunk >= len(song.chunk_notes):
        raise ValueError(f"{song.name} was not read with read_midi: its notes carry no event indices to edit")
    return [note for note in song.chunk_notes[track.chunk] if note.channel == track.channel]


def _absolute_ticks(track: Sequence[mido.Message]) -> list[int]:
    ticks, now = [], 0
    for message in track:
        now += message.time
        ticks.append(now)
    return ticks


def _checked_target_ticks(bars: Sequence[Bar], target: BarRange, new_notes: Sequence[StepNote],
                          ticks_per_beat: int) -> tuple[int, int]:
    """The target's start and end tick, once every new note is known to lie on its steps (none on
    bar 1's padding before tick 0: ``bars.first_sounding_step``)."""
    first_step, end_step = target.step_span(bars)
    _check_new_notes(new_notes, max(first_step, first_sounding_step(bars, ticks_per_beat)), end_step)
    return target.tick_span(bars)


def _check_new_notes(notes: Sequence[StepNote], range_start: int, range_end: int) -> None:
    """New notes start inside the target; one may sound past its end (a note of the target is
    written whole, as a copy of the original bars is), until a kept note starts (``edit_plan``)."""
    for note in notes:
        if not range_start <= note.start_step < range_end or note.end_step <= note.start_step:
            raise ValueError(
                f"new note {note} does not start inside the target steps {range_start}..{range_end}; "
                "new notes must start on the song step grid inside the target bars"
            )


def _leading_hold_pitch(paired: Sequence[PairedNote], bars: Sequence[Bar], ticks_per_beat: int,
                        target: BarRange, voice: str) -> int | None:
    """The pitch a leading hold of unknown pitch sounds: the edited voice's last note before the
    target when it sounds on the step just before it (on the step grid, as ``splice.target_notes``
    finds it), else None (a rest)."""
    first_step, _ = target.step_span(bars)
    edited, _ = voiced_notes(paired, bars, ticks_per_beat, voice)
    before = [n for n in edited if n.start_step < first_step <= n.end_step]
    return max(before, key=lambda n: (n.start_step, n.note.pitch)).note.pitch if before else None


# Event groups at one tick: where inserted events go relative to the original ones.
_PROVENANCE, _INSERTED_RELEASE, _ORIGINAL, _INSERTED_ATTACK, _END = range(5)


@dataclass(frozen=True)
class TrackEdit:
    """One track's edit: its edited voice in the ``target`` bars becomes ``new_notes`` (see write_edited_song)."""

    track: MidiTrack
    target: BarRange
    new_notes: Sequence[StepNote]
    voice: str = "top"
    copies: Sequence = ()  # target notes a new note equals: written with their original events
    triplet_steps: frozenset[int] = frozenset()  # steps in triplet quarters (the feel gives them only the shift)


def _track_changes(song: MidiSong, bars: Sequence[Bar], edit: TrackEdit) -> tuple[set[int], list[tuple[int, int, object]]]:
    """(indices of the chunk's events to remove, (tick, group, message) events to insert) for one
    track's edit (see write_edited_song and edit_plan for the rules)."""
    ticks_per_beat, track, target, voice = song.ticks_per_beat, edit.track, edit.target, edit.voice
    _checked_target_ticks(bars, target, edit.new_notes, ticks_per_beat)
    copies, triplet_steps = edit.copies, edit.triplet_steps
    paired = _notes_of_track(song, track)
    hold_pitch = _leading_hold_pitch(paired, bars, ticks_per_beat, target, voice)
    notes = [  # a leading hold of unknown pitch: a new note of the held pitch, or a rest
        StepNote(note.start_step, note.end_step, hold_pitch) if note.tied_from_before and note.pitch is None else note
        for note in edit.new_notes
        if not (note.tied_from_before and note.pitch is None and hold_pitch is None)
    ]
    plan = plan_edit(paired, bars, ticks_per_beat, target, notes, voice, copies, triplet_steps)
    channel = track.channel

    removed: set[int] = set()
    inserted: list[tuple[int, int, object]] = []
    for position in plan.replaced:
        removed.add(paired[position].on_index)
        if paired[position].off_index is not None:
            removed.add(paired[position].off_index)
    for position, end_tick in plan.shortened.items():
        note = paired[position]
        if note.off_index is not None:
            removed.add(note.off_index)
        inserted.append((end_tick, _INSERTED_RELEASE, note_messages(channel, note.pitch, RELEASE_VELOCITY)[1]))
    # A note never released ends where its pitch is struck again (midi_read): when that strike is a
    # replaced note, the note would sound on, so it gets a note-off where it ended (closed the same way).
    struck_at = {(paired[position].pitch, paired[position].start_tick) for position in plan.replaced}
    for position, note in enumerate(paired):
        if (note.off_index is None and note.end_tick > note.start_tick and position not in plan.replaced
                and position not in plan.shortened and (note.pitch, note.end_tick) in struck_at):
            inserted.append((note.end_tick, _INSERTED_RELEASE, note_messages(channel, note.pitch, RELEASE_VELOCITY)[1]))
    for note in plan.new_notes:
        attack, release = note_messages(channel, note.pitch, note.velocity)
        inserted.append((note.start_tick, _INSERTED_ATTACK, attack))
        inserted.append((note.end_tick, _INSERTED_RELEASE, release))
    return removed, inserted


def _edited_chunk(song: MidiSong, chunk_index: int, bars: Sequence[Bar], edits: Sequence[TrackEdit],
                  provenance: str | None) -> mido.MidiTrack:
    """Chunk ``chunk_index`` with the ``edits`` of its tracks applied and ``provenance`` at tick 0."""
    chunk = song.midi_file.tracks[chunk_index]
    ticks = _absolute_ticks(chunk)
    removed: set[int] = set()
    inserted: list[tuple[int, int, object]] = []
    if provenance is not None:
        inserted.append((0, _PROVENANCE, provenance_event(provenance)))
    for edit in edits:
        edit_removed, edit_inserted = _track_changes(song, bars, edit)
        removed |= edit_removed
        inserted += edit_inserted

    events: list[tuple[int, int, int, object]] = []
    last_tick = 0
    for index, (message, tick) in enumerate(zip(chunk, ticks)):
        if index in removed or message.type == "end_of_track":
            continue
        events.append((tick, _ORIGINAL, index, message))
        last_tick = max(last_tick, tick)
    for order, (tick, group, message) in enumerate(inserted):
        events.append((tick, group, order, message))
        last_tick = max(last_tick, tick)
    end_of_track = next((message for message in reversed(chunk) if message.type == "end_of_track"), None)
    end_tick = max(last_tick, ticks[-1] if ticks else 0)
    events.append((end_tick, _END, 0, end_of_track or mido.MetaMessage("end_of_track")))
    return _sorted_track(events)


def write_edited_song(
    song: MidiSong,
    track: MidiTrack,
    bars: Sequence[Bar],
    target: BarRange,
    new_notes: Sequence[StepNote],
    out_path: str | os.PathLike,
    provenance: str,
    force: bool = False,
    voice: str = "top",
    also: Sequence[TrackEdit] = (),
    copies: Sequence = (),
    triplet_steps: frozenset[int] = frozenset(),
) -> Path:
    """Write ``song`` with ``track``'s edited voice in the ``target`` bars replaced by ``new_notes``.
    (``copies``: another version's target notes, written exactly where a new note equals one;
    ``triplet_steps``: the target's quarters whose 16th steps 1 and 3 stand for triplet steps, written
    at 1/3 and 2/3 of the quarter: ``edit_plan.plan_edit``.)

    ``new_notes`` are on the song step grid (see ``melody.quantize_track``) inside the target bars,
    with real MIDI pitches; a leading ``tied_from_before`` note of unknown pitch (None) continues the
    edited voice's note sounding into the target as a new note, or is a rest. ``voice`` is "top"
    (replace the top voice only, keep the notes under it) or "all". Which notes go, which end
    early, and the new notes' velocities follow the rules of ``edit_plan``. Kept exactly: every
    other event of every chunk (tick, type, channel, data, order). New notes go on the track's
    channel. One sequencer-specific meta event with ``provenance`` goes at tick 0 (``provenance_event``).
    ``also`` edits other tracks by the same rules in the same file (``--also-track``: a doubling part).

    Raises OutputError when ``out_path`` exists (unless ``force``), is the input file (always), or
    cannot be written. Returns the path written.
    """
    out_path = Path(out_path)
    check_output_path(out_path, force, song.path)
    edits = [TrackEdit(track, target, new_notes, voice, copies, triplet_steps), *also]
    chunks = list(song.midi_file.tracks)
    for chunk_index in dict.fromkeys(edit.track.chunk for edit in edits):
        chunks[chunk_index] = _edited_chunk(
            song, chunk_index, bars, [edit for edit in edits if edit.track.chunk == chunk_index],
            provenance if chunk_index == track.chunk else None,
        )
    return write_output_bytes(out_path, _file_bytes(song.midi_type, song.ticks_per_beat, chunks), force)


@dataclass(frozen=True)
class AuditionVersion:
    """One pass of an audition file: its name (the track name and the marker) and the edited
    track's notes on the song step grid (context and target; chords kept)."""

    name: str
    notes: Sequence[StepNote]


@dataclass(frozen=True)
class AuditionLayout:
    """Where each pass of an audition file lies: the song ticks it copies, and where it goes."""

    passage: tuple[int, int]  # song ticks played in every pass: a bar of context, the target, a bar of context
    gap_ticks: int  # the bar of rest between passes
    channels: tuple[int, ...]  # one per version

    @property
    def stride(self) -> int:
        return self.passage[1] - self.passage[0] + self.gap_ticks

    def offset(self, number: int) -> int:
        """What a song tick of the passage gains in pass ``number`` (from 0)."""
        return number * self.stride - self.passage[0]


def audition_layout(song: MidiSong, track: MidiTrack, bars: Sequence[Bar], target: BarRange,
                    num_versions: int) -> AuditionLayout:
    """A bar of context each side of the target (as far as the song has them), a bar of rest between
    passes (the target's first bar long), and a channel of its own per version: the free channels
    first (not the other tracks', not 10 for drums), shared round-robin when there are more versions."""
    shown = BarRange(max(1, target.first - 1), min(len(bars), target.last + 1))
    first_bar = bars[target.first - 1]
    used = {other.channel for other in song.tracks if other is not track} | {9}
    free = [channel for channel in range(16) if channel not in used] or [track.channel]
    return AuditionLayout(shown.tick_span(bars), first_bar.end_tick - first_bar.start_tick,
                          tuple(free[number % len(free)] for number in range(num_versions)))


def write_audition_file(
    song: MidiSong,
    track: MidiTrack,
    bars: Sequence[Bar],
    target: BarRange,
    versions: Sequence[AuditionVersion],
    out_path: str | os.PathLike,
    provenance: str,
    force: bool = False,
) -> Path:
    """A file to audition versions of the ``target`` bars one after another (``--combined``).

    Pass n plays the target with a bar of context before and after it; a bar of rest separates the
    passes. Every version is a named track on a channel of its own (``audition_layout``), sounding
    only in its own pass, so a player hears one at a time and a DAW can solo it. The song's other
    tracks play under every pass (their notes in the passage, clipped to it, with their programs),
    the song's meter and tempo at the passage are repeated in each pass, and a marker names each
    pass. Version notes take the context's accent velocities; a leading tie of unknown pitch is a
    rest. One ``text`` event holds ``provenance``.
    """
    out_path = Path(out_path)
    check_output_path(out_path, force, song.path)
    if not versions:
        raise ValueError("an audition file needs at least one version")
    layout = audition_layout(song, track, bars, target, len(versions))
    start, end = layout.passage
    conductor: list[tuple[int, int, int, object]] = [(0, 0, 0, provenance_event(provenance))]
    for number, version in enumerate(versions):
        offset = layout.offset(number)
        conductor.append((start + offset, 0, 1, mido.MetaMessage("marker", text=version.name)))
        for tick, numerator, denominator in _in_force(song.time_signatures, start, end):
            conductor.append((tick + offset, 0, 2, mido.MetaMessage("time_signature", numerator=numerator,
                                                                    denominator=denominator)))
        for tick, tempo in _in_force(song.tempos, start, end):
            conductor.append((tick + offset, 0, 3, mido.MetaMessage("set_tempo", tempo=tempo)))
    chunks = [_sorted_track(conductor)]
    edited, _ = voiced_notes(_notes_of_track(song, track), bars, song.ticks_per_beat, "top")
    velocity = accent_velocity(edited, bars, target)
    passage_steps = (bar_at_tick(bars, start).first_step, bar_at_tick(bars, end - 1).end_step)
    for number, (version, channel) in enumerate(zip(versions, layout.channels)):
        notes = [
            MidiNote(step_to_tick(bars, song.ticks_per_beat, max(note.start_step, passage_steps[0])),
                     step_to_tick(bars, song.ticks_per_beat, min(note.end_step, passage_steps[1])),
                     note.pitch, velocity(note.start_step))
            for note in version.notes
            if note.pitch is not None and note.start_step < passage_steps[1] and note.end_step > passage_steps[0]
        ]
        chunks.append(_pass_chunk(version.name, channel, track.program, notes, [(number, layout)]))
    for other in song.tracks:
        if other is not track:
            passes = [(number, layout) for number in range(len(versions))]
            chunks.append(_pass_chunk(other.label, other.channel, None if other.is_drum else other.program,
                                      _clipped(other.notes, start, end), passes))
    return write_output_bytes(out_path, _file_bytes(1, song.ticks_per_beat, chunks), force)


def _in_force(changes: Sequence[tuple], start: int, end: int) -> list[tuple]:
    """(tick, values...) changes that hold in ticks start..end: the one in force at start (moved to
    start) and those inside."""
    before = [change for change in changes if change[0] <= start]
    inside = [change for change in changes if start < change[0] < end]
    return ([(start, *before[-1][1:])] if before else []) + inside


def _clipped(notes: Sequence[MidiNote], start: int, end: int) -> list[MidiNote]:
    return [MidiNote(max(note.start_tick, start), min(note.end_tick, end), note.pitch, note.velocity)
            for note in notes if note.start_tick < end and note.end_tick > start]


def _pass_chunk(name: str, channel: int, program: int | None, notes: Sequence[MidiNote],
                passes: Sequence[tuple[int, AuditionLayout]]) -> mido.MidiTrack:
    """A named track chunk playing ``notes`` (song ticks of the passage) in each of ``passes``."""
    events: list[tuple[int, int, int, object]] = [(0, 0, 0, mido.MetaMessage("track_name", name=name))]
    if program is not None:
        events.append((0, 0, 1, mido.Message("program_change", channel=channel, program=program)))
    order = itertools.count()
    for number, layout in passes:
        offset = layout.offset(number)
        for note in notes:
            if note.end_tick > note.start_tick:
                key = next(order)
                attack, release = note_messages(channel, note.pitch, note.velocity)
                events.extend([(note.start_tick + offset, 2, key, attack), (note.end_tick + offset, 1, key, release)])
    return _sorted_track(events)
