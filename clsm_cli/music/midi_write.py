"""Writing MIDI files: the surgical writer for edits, and two files for auditioning.

* :func:`write_edited_song` is the *surgical writer*: it replaces the chosen track's edited voice
  (its top voice, or all its notes with ``voice="all"``) in the target bars and leaves every other
  event as it was (tick, type, channel, data, order; every other chunk and channel). The rules are
  ``edit_plan``'s: a note belongs to the bar its quantized onset falls in; a note of the target is
  replaced whole; a note outside it keeps every event at the same tick, its note-off included,
  unless a new note starts while it still sounds (then it ends there); a hold at the first target
  step is a new note, never an extension of one before the target; new notes take the velocity of
  the context's notes on the same position in the bar. The only new events are the new notes, the
  moved note-offs and one provenance text event. It removes and re-times the events the reader
  paired (``MidiSong.chunk_notes``): it never pairs notes itself.
* :func:`write_candidates_file` and :func:`write_sequence_file` write files for auditioning.
* Every write goes through :func:`clsm_cli.atomic.atomic_write` and refuses to overwrite an
  existing file without ``force``, and the input file ever.

Known limit: a system-exclusive continuation packet (``F7``) is written back as an ``F0`` packet.
"""

from __future__ import annotations

import io
import itertools
import os
from pathlib import Path
from typing import Sequence

import mido

from clsm_cli.atomic import atomic_write
from clsm_cli.errors import OutputError
from clsm_cli.music.bars import Bar, BarRange, step_to_tick
from clsm_cli.music.edit_plan import DEFAULT_VELOCITY, accent_velocity, plan_edit, voiced_notes
from clsm_cli.music.song import MidiSong, MidiTrack, PairedNote
from clsm_cli.music.tokens import StepNote
from clsm_cli.timebase import step_offset_to_tick

RELEASE_VELOCITY = 64  # note-off velocity written for new notes (the spec's "no velocity sense")


def _text_event(text: str) -> mido.MetaMessage:
    """A text meta event holding ``text`` as UTF-8 (mido writes text as Latin-1 bytes, so the UTF-8
    bytes are handed over as Latin-1 characters and come out unchanged)."""
    return mido.MetaMessage("text", text=text.encode("utf-8").decode("latin-1"))


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
    """Write ``data`` atomically (see atomic.py); an OutputError sentence when that fails."""
    try:
        return atomic_write(out_path, data, overwrite=force)
    except FileExistsError:
        raise OutputError(f"{out_path} already exists; use --force to overwrite it") from None
    except OSError as error:
        raise OutputError(
            f"cannot write to the folder {out_path.parent} ({error.strerror or error}); {out_path.name} was not written"
        ) from None


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


def _checked_target_ticks(bars: Sequence[Bar], target: BarRange, new_notes: Sequence[StepNote]) -> tuple[int, int]:
    """The target's start and end tick, once every new note is known to lie on its steps."""
    first_step, end_step = target.step_span(bars)
    _check_new_notes(new_notes, first_step, end_step)
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


def _edited_chunk(
    song: MidiSong,
    track: MidiTrack,
    bars: Sequence[Bar],
    target: BarRange,
    new_notes: Sequence[StepNote],
    provenance: str,
    voice: str,
    copies: Sequence = (),
    triplet_steps: frozenset[int] = frozenset(),
) -> mido.MidiTrack:
    """The edited track chunk (see write_edited_song and edit_plan for the rules)."""
    ticks_per_beat = song.ticks_per_beat
    range_start, _ = _checked_target_ticks(bars, target, new_notes)
    chunk = song.midi_file.tracks[track.chunk]
    ticks = _absolute_ticks(chunk)
    paired = _notes_of_track(song, track)
    hold_pitch = _leading_hold_pitch(paired, bars, ticks_per_beat, target, voice)
    notes = [  # a leading hold of unknown pitch: a new note of the held pitch, or a rest
        StepNote(note.start_step, note.end_step, hold_pitch) if note.tied_from_before and note.pitch is None else note
        for note in new_notes
        if not (note.tied_from_before and note.pitch is None and hold_pitch is None)
    ]
    plan = plan_edit(paired, bars, ticks_per_beat, target, notes, voice, copies, triplet_steps)
    channel = track.channel

    removed: set[int] = set()
    inserted: list[tuple[int, int, object]] = [(range_start, _PROVENANCE, _text_event(provenance))]
    for position in plan.replaced:
        removed.add(paired[position].on_index)
        if paired[position].off_index is not None:
            removed.add(paired[position].off_index)
    for position, end_tick in plan.shortened.items():
        note = paired[position]
        if note.off_index is not None:
            removed.add(note.off_index)
        inserted.append((end_tick, _INSERTED_RELEASE, note_messages(channel, note.pitch, RELEASE_VELOCITY)[1]))
    for note in plan.new_notes:
        attack, release = note_messages(channel, note.pitch, note.velocity)
        inserted.append((note.start_tick, _INSERTED_ATTACK, attack))
        inserted.append((note.end_tick, _INSERTED_RELEASE, release))

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
    channel. One ``text`` meta event with ``provenance`` goes at the range start.

    Raises OutputError when ``out_path`` exists (unless ``force``), is the input file (always), or
    cannot be written. Returns the path written.
    """
    out_path = Path(out_path)
    check_output_path(out_path, force, song.path)
    edited = _edited_chunk(song, track, bars, target, new_notes, provenance, voice, copies, triplet_steps)
    chunks = list(song.midi_file.tracks)
    chunks[track.chunk] = edited
    return write_output_bytes(out_path, _file_bytes(song.midi_type, song.ticks_per_beat, chunks), force)


def _candidate_chunk(
    song: MidiSong,
    track: MidiTrack,
    bars: Sequence[Bar],
    target: BarRange,
    notes: Sequence[StepNote],
    name: str,
    provenance: str | None,
    voice: str,
) -> mido.MidiTrack:
    ticks_per_beat = song.ticks_per_beat
    range_start, _ = _checked_target_ticks(bars, target, notes)
    channel = track.channel
    events: list[tuple[int, int, int, object]] = [
        (0, 0, 0, mido.MetaMessage("track_name", name=name)),
        (0, 0, 1, mido.Message("program_change", channel=channel, program=track.program)),
    ]
    if provenance is not None:
        events.append((range_start, 0, 2, _text_event(provenance)))
    paired = _notes_of_track(song, track)
    edited, _ = voiced_notes(paired, bars, ticks_per_beat, voice)
    velocity = accent_velocity(edited, bars, target)
    for order, note in enumerate(notes):
        pitch = note.pitch
        if note.tied_from_before and pitch is None:
            # The candidate track has no note to continue: sound the one the hold refers to.
            pitch = _leading_hold_pitch(paired, bars, ticks_per_beat, target, voice)
            if pitch is None:
                continue
        start = step_to_tick(bars, ticks_per_beat, note.start_step)
        end = step_to_tick(bars, ticks_per_beat, note.end_step)
        if end > start:
            attack, release = note_messages(channel, pitch, velocity(note.start_step))
            events.extend([(start, 2, order, attack), (end, 1, order, release)])
    return _sorted_track(events)


def write_candidates_file(
    song: MidiSong,
    track: MidiTrack,
    bars: Sequence[Bar],
    target: BarRange,
    candidates: Sequence[Sequence[StepNote]],
    out_path: str | os.PathLike,
    provenance: str | Sequence[str],
    force: bool = False,
    voice: str = "top",
) -> Path:
    """The original song unchanged plus one track chunk per candidate ("candidate 1", ...), each
    holding only that candidate's notes in the target bars, on the melody's channel and program.

    ``provenance`` is one text (written once, in the first candidate's chunk) or one per candidate.
    A type-0 song becomes type 1 (it now has several chunks).
    """
    out_path = Path(out_path)
    check_output_path(out_path, force, song.path)
    if isinstance(provenance, str):
        provenances: list[str | None] = [provenance] + [None] * (len(candidates) - 1)
    else:
        provenances = list(provenance)
        if len(provenances) != len(candidates):
            raise ValueError(f"got {len(provenances)} provenance texts for {len(candidates)} candidates")
    chunks = list(song.midi_file.tracks)
    for number, (notes, text) in enumerate(zip(candidates, provenances), start=1):
        chunks.append(
            _candidate_chunk(song, track, bars, target, notes, f"candidate {number}", text, voice)
        )
    return write_output_bytes(out_path, _file_bytes(1, song.ticks_per_beat, chunks), force)


def write_sequence_file(
    versions: Sequence[Sequence[StepNote]],
    steps_per_bar: int,
    ticks_per_beat: int,
    tempo_us_per_beat: int,
    meter: tuple[int, int],
    program: int,
    out_path: str | os.PathLike,
    provenance: str,
    force: bool = False,
    channel: int = 0,
    gap_bars: int = 1,
    velocity: int = DEFAULT_VELOCITY,
) -> Path:
    """A small type-1 file playing ``versions`` one after another (for ``interpolate --combined``).

    Each version is a whole window melody starting at step 0 (16th steps). Versions all get the
    length of the longest, rounded up to whole bars of ``steps_per_bar``, with ``gap_bars`` of
    silence between them and a marker ("version 1", ...) where each starts. ``meter`` goes into
    the file's time signature (bar lines line up with the versions when it has ``steps_per_bar``
    steps). A leading tie of unknown pitch is a rest.
    """
    out_path = Path(out_path)
    check_output_path(out_path, force)
    if steps_per_bar < 1:
        raise ValueError(f"steps_per_bar must be at least 1, got {steps_per_bar}")
    if not 0 <= program <= 127 or not 0 <= channel <= 15:
        raise ValueError(f"program must be in range 0..127 and channel 0..15, got {program} and {channel}")
    longest = max((note.end_step for notes in versions for note in notes), default=steps_per_bar)
    version_steps = -(-longest // steps_per_bar) * steps_per_bar
    stride_steps = version_steps + gap_bars * steps_per_bar

    def tick(step: int) -> int:
        return step_offset_to_tick(step, ticks_per_beat)  # a step counted from tick 0

    conductor: list[tuple[int, int, int, object]] = [
        (0, 0, 0, mido.MetaMessage("time_signature", numerator=meter[0], denominator=meter[1])),
        (0, 0, 1, mido.MetaMessage("set_tempo", tempo=tempo_us_per_beat)),
        (0, 0, 2, _text_event(provenance)),
    ]
    melody: list[tuple[int, int, int, object]] = [
        (0, 0, 0, mido.MetaMessage("track_name", name="versions")),
        (0, 0, 1, mido.Message("program_change", channel=channel, program=program)),
    ]
    order = itertools.count(2)
    for number, notes in enumerate(versions, start=1):
        offset = (number - 1) * stride_steps
        conductor.append((tick(offset), 1, number, mido.MetaMessage("marker", text=f"version {number}")))
        for note in notes:
            if note.tied_from_before and note.pitch is None:
                continue
            start, end = tick(offset + note.start_step), tick(offset + note.end_step)
            if end > start:
                key = next(order)
                attack, release = note_messages(channel, note.pitch, velocity)
                melody.extend([(start, 2, key, attack), (end, 1, key, release)])
    chunks = [_sorted_track(conductor), _sorted_track(melody)]
    return write_output_bytes(out_path, _file_bytes(1, ticks_per_beat, chunks), force)
