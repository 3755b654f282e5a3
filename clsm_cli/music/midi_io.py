"""The only code in clsm that reads or writes ``.mid`` bytes.

Reading checks the file before trusting it: size, header, every chunk length against the bytes
really there, and a cap on events, all before anything large is allocated. One small Standard
MIDI File decoder here (:func:`_scan_track`: delta times, running status, meta and
system-exclusive events) turns each track chunk into columns of status and data bytes; the notes,
meters, tempos, names and programs are then found in those columns (:func:`_note_table`). Two
readers share all of that:

* :func:`read_midi` (the editing commands) also turns the columns into ``mido`` messages, which
  the surgical writer reuses, and gives a :class:`MidiSong`;
* :func:`read_note_table` (``clsm data build``) stops at the notes and gives a :class:`NoteTable`
  whose tracks hold their notes as numpy columns, several times faster on a large file.

Both therefore see the same tracks, notes and meters, and refuse a bad file with the same
:class:`InputFileError` sentence: bad input never gives a traceback.

A *track* is a (track chunk, channel) pair, so type-0 files and chunks that mix channels split into
their parts; tracks are numbered from 1 in (chunk, channel) order, as ``clsm show`` prints them.
Notes pair a note-on with the first still-open note-on of that pitch and channel (first in, first
out); a note-on with velocity 0 is a note-off; a note never released ends at the end of its chunk.

Writing:

* :func:`write_edited_song` is the *surgical writer*: it replaces the chosen track's notes whose
  onset lies in the target bars and leaves every other event as it was (tick, type, channel,
  data, order; every other chunk and channel). A note sounding into the range from before is cut
  at the range start; the remainder of a note sounding out of the range is re-struck at the range
  end. The only new events outside the range are those re-strikes and one provenance text event.
* :func:`write_candidates_file` and :func:`write_sequence_file` write files for auditioning.
* Every write is atomic (a temporary file in the target folder, then a rename) and refuses to
  overwrite an existing file without ``force``, and the input file ever.

Known limits: chunks other than ``MTrk`` are skipped on reading and not written back; a
system-exclusive continuation packet (``F7``) is written back as an ``F0`` packet.
"""

from __future__ import annotations

import io
import itertools
import os
import shutil
import statistics
import struct
import subprocess
import tempfile
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import mido
import numpy as np
from mido.midifiles.meta import UnknownMetaMessage, build_meta_message

from clsm_cli.constants import DRUM_CHANNEL, MAX_MIDI_FILE_BYTES, MAX_NOTES_PER_FILE, MAX_TRACKS
from clsm_cli.errors import InputFileError, OutputError
from clsm_cli.music.bars import Bar, bar_range_steps, bar_range_ticks, step_to_tick
from clsm_cli.music.tokens import StepNote, window_bars

# Limits beyond constants.py: both far above any real song, both checked while parsing.
MAX_EVENTS_PER_FILE = 2 * MAX_NOTES_PER_FILE + 1_000_000  # each note is two events, plus controllers
MAX_SONG_BEATS = 100_000  # about 14 hours at 120 BPM; more means corrupt delta times
MAX_VARIABLE_LENGTH_BYTES = 4  # the SMF spec's limit for delta times and lengths

DEFAULT_VELOCITY = 80  # for new notes when the track has none to take a median from
RELEASE_VELOCITY = 64  # note-off velocity written for new notes (the spec's "no velocity sense")
SOUNDFONT_PATHS = (
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "/usr/share/soundfonts/FluidR3_GM.sf2",
    "/usr/share/sounds/sf2/default-GM.sf2",
    "/usr/share/soundfonts/default.sf2",
    "/usr/share/sounds/sf2/TimGM6mb.sf2",
)

_TIME_SIGNATURE_META = 0x58
_SET_TEMPO_META = 0x51
_TRACK_NAME_META = 0x03
_TEXT_META = 0x01
_META_STATUS = 0xFF
_NOTE_OFF = 0x80
_NOTE_ON = 0x90
_PROGRAM_CHANGE = 0xC0
_KEYS_PER_CHANNEL = 128  # note-pairing keys: (chunk, channel, pitch) as one integer
_KEYS_PER_CHUNK = 16 * _KEYS_PER_CHANNEL


def _track_label(name: str, is_drum: bool, channel: int) -> str:
    if name:
        return name
    return "Drums" if is_drum else f"channel {channel + 1}"


@dataclass(frozen=True)
class MidiNote:
    """A note in ticks: sounds from ``start_tick`` up to (not including) ``end_tick``."""

    start_tick: int
    end_tick: int
    pitch: int
    velocity: int


@dataclass
class MidiTrack:
    """One (track chunk, channel) pair of a song, with its notes sorted by start tick."""

    number: int  # 1-based, in (chunk, channel) order: what clsm show prints and --track takes
    chunk: int  # 0-based index of the track chunk in the file
    channel: int  # 0-based MIDI channel (9 is General MIDI percussion)
    name: str  # the chunk's track name ("" if none); "(channel N)" added when a chunk mixes channels
    program: int  # General MIDI program 0..127 (the first program change; 0 if none)
    is_drum: bool
    notes: list[MidiNote]

    @property
    def label(self) -> str:
        """A name for people: the track name, or "Drums" / "channel N" when it has none."""
        return _track_label(self.name, self.is_drum, self.channel)


@dataclass
class MidiSong:
    """A parsed MIDI file: tracks with notes, meter and tempo maps, and the mido file for writing."""

    path: Path
    ticks_per_beat: int
    midi_type: int
    tracks: list[MidiTrack]
    time_signatures: list[tuple[int, int, int]]  # (tick, numerator, denominator), sorted by tick
    had_time_signature: bool  # False: no time signature in the file, 4/4 assumed (tell the user)
    tempos: list[tuple[int, int]]  # (tick, microseconds per beat); [(0, 500000)] when the file has none
    end_tick: int  # the last event tick of any chunk
    midi_file: mido.MidiFile  # what the surgical writer copies events from; never modified
    had_tempo: bool = True
    warnings: list[str] = field(default_factory=list)  # things a musician may want to know

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def last_note_end(self) -> int:
        """The tick where the last note of any track ends (0 without notes)."""
        return max((note.end_tick for track in self.tracks for note in track.notes), default=0)


@dataclass(frozen=True, eq=False)  # arrays have no single truth value: compare to_notes()
class NoteArrays:
    """A track's notes as columns (int64 arrays of equal length), in ``MidiTrack.notes`` order:
    by start tick, then pitch, then file order."""

    start_ticks: np.ndarray
    end_ticks: np.ndarray
    pitches: np.ndarray
    velocities: np.ndarray

    def __len__(self) -> int:
        return len(self.start_ticks)

    @classmethod
    def from_notes(cls, notes: Sequence[MidiNote]) -> "NoteArrays":
        columns = np.array([(n.start_tick, n.end_tick, n.pitch, n.velocity) for n in notes], dtype=np.int64)
        columns = columns.reshape(len(notes), 4)
        return cls(*(np.ascontiguousarray(columns[:, index]) for index in range(4)))

    def to_notes(self) -> list[MidiNote]:
        columns = (self.start_ticks.tolist(), self.end_ticks.tolist(), self.pitches.tolist(), self.velocities.tolist())
        return [MidiNote(*note) for note in zip(*columns)]


@dataclass(frozen=True, eq=False)
class NoteTrack:
    """A :class:`MidiTrack` whose notes are :class:`NoteArrays` (what ``read_note_table`` gives)."""

    number: int
    chunk: int
    channel: int
    name: str
    program: int
    is_drum: bool
    notes: NoteArrays

    @property
    def label(self) -> str:
        return _track_label(self.name, self.is_drum, self.channel)


@dataclass(eq=False)
class NoteTable:
    """What :func:`read_note_table` gives: a :class:`MidiSong` without the mido file, its tracks'
    notes as columns. Every field means what the same field of ``MidiSong`` means."""

    path: Path
    ticks_per_beat: int
    midi_type: int
    tracks: list[NoteTrack]
    time_signatures: list[tuple[int, int, int]]
    had_time_signature: bool
    tempos: list[tuple[int, int]]
    end_tick: int
    had_tempo: bool = True
    warnings: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def last_note_end(self) -> int:
        return max((int(track.notes.end_ticks.max()) for track in self.tracks if len(track.notes)), default=0)

    @classmethod
    def from_song(cls, song: MidiSong) -> "NoteTable":
        """The table of a song read with :func:`read_midi` or built in code (the music21 corpus)."""
        tracks = [
            NoteTrack(t.number, t.chunk, t.channel, t.name, t.program, t.is_drum, NoteArrays.from_notes(t.notes))
            for t in song.tracks
        ]
        return cls(
            path=song.path,
            ticks_per_beat=song.ticks_per_beat,
            midi_type=song.midi_type,
            tracks=tracks,
            time_signatures=list(song.time_signatures),
            had_time_signature=song.had_time_signature,
            tempos=list(song.tempos),
            end_tick=song.end_tick,
            had_tempo=song.had_tempo,
            warnings=list(song.warnings),
        )


def note_arrays(track: MidiTrack | NoteTrack) -> NoteArrays:
    """The notes of either kind of track as columns."""
    return track.notes if isinstance(track.notes, NoteArrays) else NoteArrays.from_notes(track.notes)


# --- reading: one track chunk --------------------------------------------------------------------


class _Corrupt(Exception):
    """A problem inside a track chunk; the reader turns it into an InputFileError sentence."""


_CUT_OFF = "an event is cut off at the end of its track"


def _read_variable_length(data: bytes, position: int) -> tuple[int, int]:
    value = 0
    for count in range(MAX_VARIABLE_LENGTH_BYTES):
        if position >= len(data):
            raise _Corrupt(_CUT_OFF)
        byte = data[position]
        position += 1
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            return value, position
    raise _Corrupt("a time or length value is longer than MIDI allows")


class _EventBudget:
    """Counts events and notes across the file so a huge one is refused while it is read."""

    def __init__(self, file_name: str):
        self.file_name = file_name
        self.events = 0
        self.notes = 0

    def refuse(self, too_many_events: bool) -> InputFileError:
        if too_many_events:
            return InputFileError(
                f"{self.file_name} has more than {MAX_EVENTS_PER_FILE:,} MIDI events, more than clsm reads"
            )
        return InputFileError(f"{self.file_name} has more than {MAX_NOTES_PER_FILE:,} notes, more than clsm reads")


@dataclass
class _ChunkEvents:
    """One track chunk decoded into columns, one entry per event in file order."""

    deltas: array  # typecode "q": delta time in ticks
    statuses: bytearray  # running status resolved; 0xFF meta, 0xF0 / 0xF7 system exclusive
    firsts: bytearray  # first data byte (note, controller, program); a meta event's type byte; 0 for sysex
    seconds: bytearray  # second data byte (velocity, value); 0 when there is none
    payloads: list[bytes]  # the data of each meta and system-exclusive event, in order

    def __len__(self) -> int:
        return len(self.statuses)


def _scan_track(data: bytes, budget: _EventBudget) -> _ChunkEvents:
    """Decode one MTrk chunk's bytes into columns: the one SMF event decoder both readers use.

    Checks every event (lengths against the bytes there, data bytes 0..127, allowed status bytes)
    and the file's event and note budget as it goes; raises _Corrupt or InputFileError.
    """
    deltas, statuses, firsts, seconds, payloads = array("q"), bytearray(), bytearray(), bytearray(), []
    add_delta, add_status, add_first, add_second = deltas.append, statuses.append, firsts.append, seconds.append
    position, size = 0, len(data)
    running_status = 0  # none yet (a real one is at least 0x80)
    events_left = MAX_EVENTS_PER_FILE - budget.events
    notes_left = MAX_NOTES_PER_FILE - budget.notes
    while position < size:
        delta = data[position]
        if delta < 0x80:
            position += 1
        elif position + 1 < size and data[position + 1] < 0x80:  # two bytes: the next most common
            delta = (delta & 0x7F) << 7 | data[position + 1]
            position += 2
        else:
            delta, position = _read_variable_length(data, position)
        if position >= size:
            raise _Corrupt(_CUT_OFF)
        status = data[position]
        if status >= 0x80:
            position += 1
        elif not running_status:
            raise _Corrupt("a data byte appears where an event should start")
        else:
            status = running_status  # running status: this byte is already data
        if status < 0xF0:
            # Lenient like most players: running status survives meta and sysex events.
            running_status = status
            if 0xC0 <= status < 0xE0:  # program change and channel pressure have one data byte
                if position >= size:
                    raise _Corrupt(_CUT_OFF)
                first, second = data[position], 0
                position += 1
            else:
                if position + 2 > size:
                    raise _Corrupt(_CUT_OFF)
                first, second = data[position], data[position + 1]
                position += 2
                if second and _NOTE_ON <= status < 0xA0:
                    notes_left -= 1
            if (first | second) > 0x7F:
                raise _Corrupt("a note or controller value is above 127")
        elif status == _META_STATUS:
            if position >= size:
                raise _Corrupt(_CUT_OFF)
            first, second = data[position], 0
            length, position = _read_variable_length(data, position + 1)
            if position + length > size:
                raise _Corrupt("a meta event is longer than its track")
            payloads.append(data[position : position + length])
            position += length
        elif status == 0xF0 or status == 0xF7:
            length, position = _read_variable_length(data, position)
            if position + length > size:
                raise _Corrupt("a system-exclusive message is longer than its track")
            payloads.append(data[position : position + length])
            position += length
            first = second = 0
        else:
            raise _Corrupt(f"it contains the status byte 0x{status:02X}, which is not allowed in MIDI files")
        events_left -= 1
        if events_left < 0 or notes_left < 0:
            raise budget.refuse(events_left < 0)
        add_delta(delta)
        add_status(status)
        add_first(first)
        add_second(second)
    budget.events = MAX_EVENTS_PER_FILE - events_left
    budget.notes = MAX_NOTES_PER_FILE - notes_left
    return _ChunkEvents(deltas, statuses, firsts, seconds, payloads)


# --- reading: mido messages for the writer -------------------------------------------------------


def _meta_message(meta_type: int, payload: bytes, delta: int) -> mido.MetaMessage:
    """A meta message that writes back exactly ``payload``: decoded when mido can round-trip it,
    otherwise kept as raw bytes (a damaged key signature must not stop the whole file). Types
    mido does not know are built here: its ``build_meta_message`` drops their delta time."""
    try:
        message = build_meta_message(meta_type, list(payload), delta)
        if message.type != "unknown_meta" and _meta_payload(message) == payload:
            return message
    except Exception:  # noqa: BLE001 - any decoding failure just means "keep the raw bytes"
        pass
    return UnknownMetaMessage(meta_type, list(payload), time=delta)


def _meta_payload(message: mido.MetaMessage) -> bytes:
    """The data bytes of a meta message (after its type byte and length)."""
    raw = message.bytes()
    position = 2
    while raw[position] & 0x80:
        position += 1
    return bytes(raw[position + 1 :])


def _sysex_message(payload: bytes, delta: int) -> mido.Message:
    """A sysex message built without mido's value checks (F7 packets may hold any byte)."""
    data = payload[:-1] if payload.endswith(b"\xf7") else payload
    message = mido.Message.__new__(mido.Message)
    vars(message).update({"type": "sysex", "data": tuple(data), "time": delta})
    return message


# Channel messages by status nibble: mido's type name and the names of its data bytes.
_CHANNEL_MESSAGE_FIELDS = {
    0x80: ("note_off", "note", "velocity"),
    0x90: ("note_on", "note", "velocity"),
    0xA0: ("polytouch", "note", "value"),
    0xB0: ("control_change", "control", "value"),
    0xC0: ("program_change", "program", None),
    0xD0: ("aftertouch", "value", None),
}


def _channel_message(status: int, first: int, second: int, delta: int) -> mido.Message:
    """The mido message for validated bytes (data bytes already checked to be 0..127); built
    directly because mido's own checks triple the reading time of a large file."""
    kind = status & 0xF0
    fields: dict[str, object]
    if kind == 0xE0:
        fields = {"type": "pitchwheel", "channel": status & 0x0F, "pitch": (first | second << 7) - 8192}
    else:
        type_name, first_name, second_name = _CHANNEL_MESSAGE_FIELDS[kind]
        fields = {"type": type_name, "channel": status & 0x0F, first_name: first}
        if second_name is not None:
            fields[second_name] = second
    fields["time"] = delta
    message = mido.Message.__new__(mido.Message)
    vars(message).update(fields)
    return message


def _mido_track(events: _ChunkEvents) -> mido.MidiTrack:
    """The chunk's events as mido messages with delta times (what the surgical writer copies)."""
    track = mido.MidiTrack()
    append = track.append
    payloads = iter(events.payloads)
    for delta, status, first, second in zip(events.deltas, events.statuses, events.firsts, events.seconds):
        if status < 0xF0:
            append(_channel_message(status, first, second, delta))
        elif status == _META_STATUS:
            append(_meta_message(first, next(payloads), delta))
        else:
            append(_sysex_message(next(payloads), delta))
    return track


# --- reading: the file ---------------------------------------------------------------------------


def _unwrap_riff(data: bytes) -> bytes:
    """The Standard MIDI File inside a RIFF ``RMID`` wrapper (some Windows tools write these)."""
    if data[:4] == b"RIFF" and data[8:12] == b"RMID":
        position = 12
        while position + 8 <= len(data):
            chunk_id, length = data[position : position + 4], struct.unpack("<I", data[position + 4 : position + 8])[0]
            if chunk_id == b"data":
                return data[position + 8 : position + 8 + length]
            position += 8 + length + (length & 1)
    return data


def _parse_file(data: bytes, name: str) -> tuple[int, int, list[_ChunkEvents], list[str]]:
    """Header checks and chunk walking: (format, ticks_per_beat, decoded track chunks, warnings)."""
    data = _unwrap_riff(data)
    if data[:4] != b"MThd":
        raise InputFileError(f"{name} is not a MIDI file (it does not start with the MIDI header 'MThd')")
    if len(data) < 14:
        raise InputFileError(f"{name} is truncated: its MIDI header is incomplete")
    header_length = struct.unpack(">I", data[4:8])[0]
    if header_length < 6:
        raise InputFileError(f"{name} is corrupt: its MIDI header is too short")
    if header_length > len(data) - 8:
        raise InputFileError(f"{name} is corrupt: its MIDI header claims {header_length:,} bytes")
    midi_format, declared_tracks, division = struct.unpack(">HHH", data[8:14])
    if midi_format == 2:
        raise InputFileError(
            f"{name} is a type 2 MIDI file (independent patterns), which clsm cannot edit; "
            "save it as type 0 or 1"
        )
    if midi_format > 2:
        raise InputFileError(f"{name} is corrupt: its header names MIDI format {midi_format}, which does not exist")
    if division & 0x8000:
        raise InputFileError(
            f"{name} counts time in SMPTE frames rather than beats, which clsm does not support; "
            "save it with ticks per beat"
        )
    if division == 0:
        raise InputFileError(f"{name} is corrupt: its header says 0 ticks per beat")
    if declared_tracks > MAX_TRACKS:
        raise InputFileError(
            f"{name} declares {declared_tracks:,} tracks, more than the {MAX_TRACKS:,} clsm reads; "
            "the file looks corrupt"
        )
    position = 8 + header_length
    if declared_tracks == 0 or position >= len(data):
        raise InputFileError(f"{name} contains only a MIDI header and no tracks")

    budget = _EventBudget(name)
    tracks: list[_ChunkEvents] = []
    warnings: list[str] = []
    skipped_chunks = 0
    while len(tracks) < declared_tracks:
        remaining = len(data) - position
        if remaining == 0 or (remaining < 8 and tracks):
            raise InputFileError(
                f"{name} is truncated: its header announces {declared_tracks} tracks but only "
                f"{len(tracks)} are there"
            )
        if remaining < 8:
            raise InputFileError(f"{name} is truncated: its first track is cut off")
        chunk_id, length = struct.unpack(">4sI", data[position : position + 8])
        if length > MAX_MIDI_FILE_BYTES:
            raise InputFileError(
                f"{name} is corrupt: track {len(tracks) + 1} claims {length:,} bytes, far more than a MIDI file holds"
            )
        if length > remaining - 8:
            raise InputFileError(
                f"{name} is truncated: track {len(tracks) + 1} should hold {length:,} bytes "
                f"but the file ends after {remaining - 8:,}"
            )
        body = data[position + 8 : position + 8 + length]
        position += 8 + length
        if chunk_id == b"MTrk":
            try:
                tracks.append(_scan_track(body, budget))
            except _Corrupt as problem:
                raise InputFileError(f"{name} is corrupt: in track {len(tracks) + 1}, {problem}") from None
        elif all(0x20 <= byte < 0x7F for byte in chunk_id):
            skipped_chunks += 1  # the SMF spec says to skip chunks of unknown type
        else:
            raise InputFileError(f"{name} is corrupt: expected a track at byte {position - 8 - length:,}")
        if len(tracks) + skipped_chunks > MAX_TRACKS:
            raise InputFileError(f"{name} has more than {MAX_TRACKS:,} chunks; the file looks corrupt")
    if skipped_chunks:
        warnings.append(f"{skipped_chunks} non-track chunk(s) in {name} were skipped")
    if midi_format == 0 and len(tracks) > 1:
        warnings.append(f"{name} says it is type 0 but holds {len(tracks)} tracks; it is read as type 1")
        midi_format = 1
    return midi_format, division, tracks, warnings


def _pair_note_events(keys: np.ndarray, is_on: np.ndarray, is_off: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First-in-first-out note pairing over a sequence of events, vectorised.

    A note-off (``is_off``: note-off or velocity-0 note-on) ends the earliest still-open note-on
    (``is_on``) with the same key (channel and pitch, and chunk when several chunks are paired at
    once); a note-off with nothing open is ignored. Returns (indices of the note-ons in event
    order, index of the event that ends each one or -1 when none does).
    """
    events = np.flatnonzero(is_on | is_off)
    if not len(events):
        return events, events.copy()
    events = events[np.argsort(keys[events], kind="stable")]  # grouped by key, file order inside
    event_keys = keys[events]
    group_starts = np.empty(len(events), dtype=bool)
    group_starts[0] = True
    group_starts[1:] = event_keys[1:] != event_keys[:-1]
    group = np.cumsum(group_starts) - 1
    first_of_group = np.flatnonzero(group_starts)
    on = is_on[events]
    step = np.where(on, 1, -1)
    running = np.cumsum(step)
    depth = running - (running - step)[first_of_group][group]  # open notes, had every off matched
    # The lowest depth so far in each group (at most 0): a note-off that goes below it found no
    # open note. Offsetting the groups apart lets one running minimum serve them all.
    spread = 2 * len(events) + 2
    floor = np.minimum(np.minimum.accumulate(depth - group * spread) + group * spread, 0)
    previous_floor = np.zeros(len(events), dtype=floor.dtype)
    previous_floor[1:] = floor[:-1]
    previous_floor[group_starts] = 0
    ends_a_note = ~on & (depth >= previous_floor)
    # The k-th note-on of a key is ended by the k-th note-off of that key that ends a note.
    ons_so_far = np.cumsum(on)
    on_rank = ons_so_far - (ons_so_far - on)[first_of_group][group] - 1
    offs_per_group = np.bincount(group[ends_a_note], minlength=len(first_of_group))
    first_off_of_group = np.cumsum(offs_per_group) - offs_per_group
    off_positions = np.flatnonzero(ends_a_note)
    on_positions = np.flatnonzero(on)
    on_group, on_rank = group[on_positions], on_rank[on_positions]
    released = on_rank < offs_per_group[on_group]
    off_events = np.full(len(on_positions), -1, dtype=np.int64)
    off_events[released] = events[off_positions[first_off_of_group[on_group[released]] + on_rank[released]]]
    on_events = events[on_positions]
    order = np.argsort(on_events)
    return on_events[order], off_events[order]


def _note_table(
    path: Path, midi_format: int, ticks_per_beat: int, chunks: list[_ChunkEvents], warnings: list[str]
) -> NoteTable:
    """Tracks, notes, meters and tempos from the decoded chunks (the part both readers share)."""
    name = path.name or str(path)
    counts = np.array([len(chunk) for chunk in chunks], dtype=np.int64)
    statuses = np.frombuffer(b"".join(chunk.statuses for chunk in chunks), dtype=np.uint8).astype(np.int64)
    firsts = np.frombuffer(b"".join(chunk.firsts for chunk in chunks), dtype=np.uint8).astype(np.int64)
    seconds = np.frombuffer(b"".join(chunk.seconds for chunk in chunks), dtype=np.uint8)
    deltas = np.frombuffer(b"".join(chunk.deltas.tobytes() for chunk in chunks), dtype=np.int64)
    chunk_of = np.repeat(np.arange(len(chunks)), counts)
    running = np.cumsum(deltas)
    first_event = np.cumsum(counts) - counts
    ticks = running - np.repeat(np.concatenate(([0], running))[first_event], counts)  # per chunk
    chunk_ends = np.zeros(len(chunks), dtype=np.int64)
    filled = counts > 0
    chunk_ends[filled] = ticks[(first_event + counts - 1)[filled]]
    end_tick = int(chunk_ends.max(initial=0))

    # Meta events (few): meters, tempos, the first non-empty track name of each chunk.
    time_signatures: list[tuple[int, int, int]] = []
    tempos: list[tuple[int, int]] = []
    chunk_names = [""] * len(chunks)
    payloads = [payload for chunk in chunks for payload in chunk.payloads]
    for index, payload in zip(np.flatnonzero(statuses >= 0xF0).tolist(), payloads):
        if statuses[index] != _META_STATUS:
            continue
        meta_type = firsts[index]
        if meta_type == _TIME_SIGNATURE_META and len(payload) >= 2:
            numerator, exponent = payload[0], payload[1]
            if numerator < 1 or exponent > 6:
                raise InputFileError(
                    f"{name} has an impossible time signature ({numerator}/2^{exponent}) at tick {int(ticks[index])}"
                )
            time_signatures.append((int(ticks[index]), numerator, 2**exponent))
        elif meta_type == _SET_TEMPO_META and len(payload) >= 3:
            tempo = (payload[0] << 16) | (payload[1] << 8) | payload[2]
            if tempo > 0:
                tempos.append((int(ticks[index]), tempo))
        elif meta_type == _TRACK_NAME_META and not chunk_names[chunk_of[index]]:
            chunk_names[chunk_of[index]] = payload.decode("latin-1").strip().replace("\x00", "")

    # Programs: the first program change of each (chunk, channel), and of each channel anywhere.
    channels = statuses & 0x0F
    changes = np.flatnonzero((statuses & 0xF0) == _PROGRAM_CHANGE)
    change_keys = chunk_of[changes] * 16 + channels[changes]
    _, first_change = np.unique(change_keys, return_index=True)
    programs = {
        (int(key) // 16, int(key) % 16): int(program)
        for key, program in zip(change_keys[first_change], firsts[changes[first_change]])
    }
    _, first_on_channel = np.unique(channels[changes], return_index=True)
    first_program_on_channel = {
        int(channel): int(program)
        for channel, program in zip(channels[changes[first_on_channel]], firsts[changes[first_on_channel]])
    }

    # Notes: pair note-ons and note-offs of every chunk at once; drop zero-length notes.
    kinds = statuses & 0xF0
    is_on = (kinds == _NOTE_ON) & (seconds > 0)
    is_off = (kinds == _NOTE_OFF) | ((kinds == _NOTE_ON) & (seconds == 0))
    keys = chunk_of * _KEYS_PER_CHUNK + channels * _KEYS_PER_CHANNEL + firsts
    on_events, off_events = _pair_note_events(keys, is_on, is_off)
    starts = ticks[on_events]
    never_closed = off_events < 0
    ends = np.where(never_closed, np.maximum(starts, chunk_ends[chunk_of[on_events]]), ticks[off_events])
    sounding = ends > starts  # zero-length notes are silent, and nothing to edit
    if not sounding.any():
        raise InputFileError(f"{name} has no notes")
    on_events, starts, ends = on_events[sounding], starts[sounding], ends[sounding]
    last_note_end = int(ends.max())
    if last_note_end / ticks_per_beat > MAX_SONG_BEATS:
        raise InputFileError(
            f"{name} lasts {last_note_end // ticks_per_beat:,} beats, more than the {MAX_SONG_BEATS:,} "
            "clsm reads; its timing looks corrupt"
        )
    never_released = int(never_closed[sounding].sum())
    if never_released:
        warnings.append(f"{never_released} note(s) in {name} are never released; they end with their track")

    pitches, note_chunks, note_channels = firsts[on_events], chunk_of[on_events], channels[on_events]
    order = np.lexsort((on_events, pitches, starts, note_channels, note_chunks))
    track_keys = (note_chunks * 16 + note_channels)[order]
    boundaries = np.flatnonzero(np.diff(track_keys)) + 1
    velocities = seconds[on_events].astype(np.int64)
    columns = [starts[order], ends[order], pitches[order], velocities[order]]
    split_columns = [np.split(column, boundaries) for column in columns]
    track_chunks = (track_keys[np.concatenate(([0], boundaries))] // 16).tolist()
    track_channels = (track_keys[np.concatenate(([0], boundaries))] % 16).tolist()
    channels_in_chunk: dict[int, int] = {}
    for chunk_index in track_chunks:
        channels_in_chunk[chunk_index] = channels_in_chunk.get(chunk_index, 0) + 1
    tracks = []
    for number, (chunk_index, channel, *track_columns) in enumerate(
        zip(track_chunks, track_channels, *split_columns), start=1
    ):
        track_name = chunk_names[chunk_index]
        if channels_in_chunk[chunk_index] > 1 and track_name:
            track_name = f"{track_name} (channel {channel + 1})"
        program = programs.get((chunk_index, channel), first_program_on_channel.get(channel, 0))
        notes = NoteArrays(*track_columns)
        tracks.append(NoteTrack(number, chunk_index, channel, track_name, program, channel == DRUM_CHANNEL, notes))

    time_signatures.sort(key=lambda signature: signature[0])
    tempos.sort(key=lambda change: change[0])
    had_tempo = bool(tempos)
    return NoteTable(
        path=path,
        ticks_per_beat=ticks_per_beat,
        midi_type=midi_format,
        tracks=tracks,
        time_signatures=time_signatures,
        had_time_signature=bool(time_signatures),
        tempos=tempos if had_tempo else [(0, mido.midifiles.midifiles.DEFAULT_TEMPO)],
        end_tick=end_tick,
        had_tempo=had_tempo,
        warnings=warnings,
    )


def _absolute_ticks(track: Iterable[mido.Message]) -> list[int]:
    ticks, now = [], 0
    for message in track:
        now += message.time
        ticks.append(now)
    return ticks


@dataclass
class _PairedNote:
    """A note together with the indices of the events that start and end it in its chunk."""

    channel: int
    pitch: int
    velocity: int
    start_tick: int
    end_tick: int
    on_index: int
    off_index: int | None  # None: never released, ends at the end of the chunk


def _pair_notes(track: Sequence[mido.Message], ticks: Sequence[int]) -> list[_PairedNote]:
    """Every note of a mido chunk with its event indices (zero-length notes included), paired by
    the same code as reading."""
    chunk_end = ticks[-1] if ticks else 0
    count = len(track)
    keys = np.zeros(count, dtype=np.int64)
    velocities = np.zeros(count, dtype=np.int64)
    is_on, is_off = np.zeros(count, dtype=bool), np.zeros(count, dtype=bool)
    for index, message in enumerate(track):
        kind = message.type
        if kind == "note_on" or kind == "note_off":
            keys[index] = message.channel * _KEYS_PER_CHANNEL + message.note
            velocities[index] = message.velocity
            is_on[index] = kind == "note_on" and message.velocity > 0
            is_off[index] = not is_on[index]
    on_events, off_events = _pair_note_events(keys, is_on, is_off)
    notes = []
    for on_index, off_index in zip(on_events.tolist(), off_events.tolist()):
        start = ticks[on_index]
        channel, pitch = divmod(int(keys[on_index]), _KEYS_PER_CHANNEL)
        velocity = int(velocities[on_index])
        if off_index < 0:
            notes.append(_PairedNote(channel, pitch, velocity, start, max(start, chunk_end), on_index, None))
        else:
            notes.append(_PairedNote(channel, pitch, velocity, start, ticks[off_index], on_index, off_index))
    notes.sort(key=lambda note: (note.start_tick, note.on_index))
    return notes


def read_midi(path: str | os.PathLike) -> MidiSong:
    """Read a MIDI file of type 0 or 1; InputFileError (one sentence) for anything unusable."""
    path = Path(path)
    data = _read_file_bytes(path)
    return _song_from_bytes(data, path)


def read_note_table(path: str | os.PathLike) -> NoteTable:
    """:func:`read_midi` without the mido messages, for ``clsm data build``: the same tracks,
    notes (as columns), meters and tempos, and the same error for a bad file."""
    path = Path(path)
    return _table_from_bytes(_read_file_bytes(path), path)


def _read_file_bytes(path: Path) -> bytes:
    name = path.name or str(path)
    try:
        status = path.stat()
    except FileNotFoundError:
        raise InputFileError(f"{path} does not exist") from None
    except PermissionError:
        raise InputFileError(f"{path} cannot be read (permission denied)") from None
    except OSError as error:
        raise InputFileError(f"{path} cannot be read ({error.strerror or error})") from None
    if path.is_dir():
        raise InputFileError(f"{path} is a folder, not a MIDI file")
    if status.st_size == 0:
        raise InputFileError(f"{name} is empty (0 bytes), not a MIDI file")
    if status.st_size > MAX_MIDI_FILE_BYTES:
        raise InputFileError(
            f"{name} is {status.st_size / 2**20:,.0f} MB, larger than the "
            f"{MAX_MIDI_FILE_BYTES // 2**20} MB clsm reads; it is probably not a MIDI file"
        )
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_MIDI_FILE_BYTES + 1)
    except PermissionError:
        raise InputFileError(f"{path} cannot be read (permission denied)") from None
    except OSError as error:
        raise InputFileError(f"{path} cannot be read ({error.strerror or error})") from None
    if not data:
        raise InputFileError(f"{name} is empty (0 bytes), not a MIDI file")
    if len(data) > MAX_MIDI_FILE_BYTES:
        raise InputFileError(f"{name} is larger than the {MAX_MIDI_FILE_BYTES // 2**20} MB clsm reads")
    return data


def _check_bytes(data: bytes, name: str) -> None:
    if not data:
        raise InputFileError(f"{name} is empty (0 bytes), not a MIDI file")
    if len(data) > MAX_MIDI_FILE_BYTES:
        raise InputFileError(f"{name} is larger than the {MAX_MIDI_FILE_BYTES // 2**20} MB clsm reads")


def song_from_bytes(data: bytes, name: str = "input.mid") -> MidiSong:
    """:func:`read_midi` for bytes already in memory (tests, fuzzing); ``name`` is used in messages."""
    _check_bytes(data, name)
    return _song_from_bytes(data, Path(name))


def note_table_from_bytes(data: bytes, name: str = "input.mid") -> NoteTable:
    """:func:`read_note_table` for bytes already in memory; ``name`` is used in messages."""
    _check_bytes(data, name)
    return _table_from_bytes(data, Path(name))


def _table_from_bytes(data: bytes, path: Path) -> NoteTable:
    midi_format, ticks_per_beat, chunks, warnings = _parse_file(data, path.name or str(path))
    return _note_table(path, midi_format, ticks_per_beat, chunks, warnings)


def _song_from_bytes(data: bytes, path: Path) -> MidiSong:
    midi_format, ticks_per_beat, chunks, warnings = _parse_file(data, path.name or str(path))
    table = _note_table(path, midi_format, ticks_per_beat, chunks, warnings)
    midi_file = mido.MidiFile(type=midi_format, ticks_per_beat=ticks_per_beat, tracks=[_mido_track(c) for c in chunks])
    tracks = [
        MidiTrack(t.number, t.chunk, t.channel, t.name, t.program, t.is_drum, t.notes.to_notes()) for t in table.tracks
    ]
    return MidiSong(
        path=path,
        ticks_per_beat=ticks_per_beat,
        midi_type=table.midi_type,
        tracks=tracks,
        time_signatures=table.time_signatures,
        had_time_signature=table.had_time_signature,
        tempos=table.tempos,
        end_tick=table.end_tick,
        midi_file=midi_file,
        had_tempo=table.had_tempo,
        warnings=table.warnings,
    )


def read_text_events(path: str | os.PathLike) -> list[str]:
    """The text of every ``text`` meta event in the file, chunk by chunk (provenance lines)."""
    path = Path(path)
    _, _, chunks, _ = _parse_file(_read_file_bytes(path), path.name)
    texts = []
    for chunk in chunks:
        # Payloads belong to the meta and system-exclusive events (statuses >= 0xF0), in order.
        kinds = ((status, first) for status, first in zip(chunk.statuses, chunk.firsts) if status >= 0xF0)
        for kind, payload in zip(kinds, chunk.payloads):
            if kind == (_META_STATUS, _TEXT_META):
                texts.append(_decode_text(payload))
    return texts


def _decode_text(payload: bytes) -> str:
    """Text written by clsm is UTF-8; other files' text is often Latin-1."""
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        return payload.decode("latin-1")


# --- writing -------------------------------------------------------------------------------------


def _text_event(text: str) -> mido.MetaMessage:
    """A text meta event holding ``text`` as UTF-8 (mido writes text as Latin-1 bytes, so the UTF-8
    bytes are handed over as Latin-1 characters and come out unchanged)."""
    return mido.MetaMessage("text", text=text.encode("utf-8").decode("latin-1"))


def _check_output_path(out_path: Path, force: bool, input_path: Path | None = None) -> None:
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


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _atomic_write(out_path: Path, data: bytes, force: bool) -> Path:
    """Write via a temporary file in the same folder, then rename (never a half-written file)."""
    try:
        handle, temporary = tempfile.mkstemp(dir=out_path.parent, prefix=f".{out_path.name}.", suffix=".tmp")
    except OSError as error:
        raise OutputError(f"cannot write to the folder {out_path.parent} ({error.strerror or error})") from None
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o666 & ~_current_umask())  # mkstemp makes 0600; outputs are ordinary files
        if force:
            os.replace(temporary, out_path)
        else:
            try:
                os.link(temporary, out_path)  # fails if the name appeared meanwhile: no silent overwrite
            except FileExistsError:
                raise OutputError(f"{out_path} already exists; use --force to overwrite it") from None
            except OSError:
                if out_path.exists():
                    raise OutputError(f"{out_path} already exists; use --force to overwrite it") from None
                os.replace(temporary, out_path)  # a filesystem without hard links
    except OSError as error:
        raise OutputError(f"cannot write {out_path} ({error.strerror or error})") from None
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return out_path


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


def _file_bytes(midi_type: int, ticks_per_beat: int, chunks: list[mido.MidiTrack]) -> bytes:
    if midi_type == 0 and len(chunks) != 1:
        midi_type = 1
    buffer = io.BytesIO()
    mido.MidiFile(type=midi_type, ticks_per_beat=ticks_per_beat, tracks=chunks).save(file=buffer)
    return buffer.getvalue()


def nearby_velocity(track: MidiTrack, bars: Sequence[Bar], first_bar: int, last_bar: int) -> int:
    """Median velocity of the track's notes in the 8-bar window around the target (the whole track
    when that window has none; 80 for a track without notes)."""
    window_first, window_last = window_bars(len(bars), first_bar, last_bar)
    start, end = bar_range_ticks(bars, window_first, window_last)
    velocities = [note.velocity for note in track.notes if start <= note.start_tick < end]
    velocities = velocities or [note.velocity for note in track.notes]
    if not velocities:
        return DEFAULT_VELOCITY
    return max(1, min(127, int(statistics.median(velocities) + 0.5)))


def _check_new_notes(notes: Sequence[StepNote], range_start: int, range_end: int) -> None:
    for note in notes:
        if note.start_step < range_start or note.end_step > range_end:
            raise ValueError(
                f"new note {note} lies outside the target steps {range_start}..{range_end}; "
                "new notes must be on the song step grid inside the target bars"
            )


def _sounding_at_left_boundary(
    paired: Sequence[_PairedNote], range_start_tick: int, tolerance_ticks: float, pitch: int
) -> _PairedNote | None:
    """The note a leading tie continues: started before the range and still sounding at its start
    (or released less than half a step before it). Same pitch first, else the highest."""
    sounding = [
        note
        for note in paired
        if note.start_tick < range_start_tick and note.end_tick > range_start_tick - tolerance_ticks
    ]
    if not sounding:
        return None
    same_pitch = [note for note in sounding if note.pitch == pitch]
    return max(same_pitch or sounding, key=lambda note: (note.pitch, note.start_tick))


# Event groups at one tick: where inserted events go relative to the original ones.
_PROVENANCE, _INSERTED_RELEASE, _ORIGINAL, _INSERTED_ATTACK, _END = range(5)


def _edited_chunk(
    song: MidiSong,
    track: MidiTrack,
    bars: Sequence[Bar],
    first_bar: int,
    last_bar: int,
    new_notes: Sequence[StepNote],
    provenance: str,
) -> mido.MidiTrack:
    """The edited track chunk (see write_edited_song)."""
    ticks_per_beat = song.ticks_per_beat
    range_start, range_end = bar_range_ticks(bars, first_bar, last_bar)
    first_step, end_step = bar_range_steps(bars, first_bar, last_bar)
    _check_new_notes(new_notes, first_step, end_step)
    chunk = song.midi_file.tracks[track.chunk]
    ticks = _absolute_ticks(chunk)
    paired = [note for note in _pair_notes(chunk, ticks) if note.channel == track.channel]
    velocity = nearby_velocity(track, bars, first_bar, last_bar)
    channel = track.channel

    def note_on(pitch: int, note_velocity: int) -> mido.Message:
        return mido.Message("note_on", channel=channel, note=pitch, velocity=note_velocity)

    def note_off(pitch: int) -> mido.Message:
        return mido.Message("note_off", channel=channel, note=pitch, velocity=RELEASE_VELOCITY)

    removed: set[int] = set()
    inserted: list[tuple[int, int, object]] = [(range_start, _PROVENANCE, _text_event(provenance))]

    tied = next((note for note in new_notes if note.tied_from_before and note.start_step == first_step), None)
    left_note = None
    if tied is not None:
        left_note = _sounding_at_left_boundary(paired, range_start, ticks_per_beat / 8, tied.pitch)
    tie_end = step_to_tick(bars, ticks_per_beat, tied.end_step) if tied is not None else None

    for note in paired:
        is_left = note is left_note
        if note.start_tick >= range_end or (note.end_tick <= range_start and not is_left):
            continue  # wholly outside the range: untouched
        if note.start_tick >= range_start:
            # Onset inside the range: the note goes; a remainder past the range end is re-struck.
            removed.add(note.on_index)
            if note.end_tick > range_end:
                inserted.append((range_end, _INSERTED_ATTACK, note_on(note.pitch, note.velocity)))
            elif note.off_index is not None:
                removed.add(note.off_index)
            continue
        # Onset before the range: keep the outside part (or let a leading tie extend it).
        new_end = tie_end if is_left else range_start
        if note.end_tick > range_end:
            if new_end == range_end:
                continue  # a tie that reaches the range end: the original note simply sounds on
            inserted.append((new_end, _INSERTED_RELEASE, note_off(note.pitch)))
            inserted.append((range_end, _INSERTED_ATTACK, note_on(note.pitch, note.velocity)))
        elif note.end_tick != new_end or note.off_index is None:
            if note.off_index is not None:
                removed.add(note.off_index)
            inserted.append((new_end, _INSERTED_RELEASE, note_off(note.pitch)))

    for note in new_notes:
        if note is tied and (left_note is not None or note.pitch == 0):
            continue  # absorbed by the note it continues, or a leading rest
        start = step_to_tick(bars, ticks_per_beat, note.start_step)
        end = step_to_tick(bars, ticks_per_beat, note.end_step)
        if end <= start:
            continue  # shorter than a tick at a very coarse resolution: nothing to write
        inserted.append((start, _INSERTED_ATTACK, note_on(note.pitch, velocity)))
        inserted.append((end, _INSERTED_RELEASE, note_off(note.pitch)))

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
    events.sort(key=lambda event: event[:3])
    return _to_delta_track([(tick, message) for tick, _, _, message in events])


def write_edited_song(
    song: MidiSong,
    track: MidiTrack,
    bars: Sequence[Bar],
    first_bar: int,
    last_bar: int,
    new_notes: Sequence[StepNote],
    out_path: str | os.PathLike,
    provenance: str,
    force: bool = False,
) -> Path:
    """Write ``song`` with ``track``'s notes in bars ``first_bar..last_bar`` replaced by ``new_notes``.

    ``new_notes`` are on the song step grid (see ``melody.quantize_track``) inside the target bars,
    with real MIDI pitches. Replaced: the track's notes whose onset lies in the range. Kept exactly:
    every other event of every chunk (tick, type, channel, data, order). A note sounding into the
    range is cut at the range start; one sounding out of it is re-struck at the range end (same
    pitch and velocity). A new note with ``tied_from_before`` that starts the range extends the note
    sounding at the left boundary (its end moves; its start does not); with nothing sounding it is
    a normal note (pitch > 0) or a rest. New notes take the median velocity of the track's nearby
    notes and its channel. One ``text`` meta event with ``provenance`` goes at the range start.

    Raises OutputError when ``out_path`` exists (unless ``force``), is the input file (always), or
    cannot be written. Returns the path written.
    """
    out_path = Path(out_path)
    _check_output_path(out_path, force, song.path)
    edited = _edited_chunk(song, track, bars, first_bar, last_bar, new_notes, provenance)
    chunks = list(song.midi_file.tracks)
    chunks[track.chunk] = edited
    return _atomic_write(out_path, _file_bytes(song.midi_type, song.ticks_per_beat, chunks), force)


def _candidate_chunk(
    song: MidiSong,
    track: MidiTrack,
    bars: Sequence[Bar],
    first_bar: int,
    last_bar: int,
    notes: Sequence[StepNote],
    name: str,
    provenance: str | None,
    velocity: int,
) -> mido.MidiTrack:
    ticks_per_beat = song.ticks_per_beat
    range_start, _ = bar_range_ticks(bars, first_bar, last_bar)
    first_step, end_step = bar_range_steps(bars, first_bar, last_bar)
    _check_new_notes(notes, first_step, end_step)
    channel = track.channel
    events: list[tuple[int, int, int, object]] = [
        (0, 0, 0, mido.MetaMessage("track_name", name=name)),
        (0, 0, 1, mido.Message("program_change", channel=channel, program=track.program)),
    ]
    if provenance is not None:
        events.append((range_start, 0, 2, _text_event(provenance)))
    chunk = song.midi_file.tracks[track.chunk]
    paired = [note for note in _pair_notes(chunk, _absolute_ticks(chunk)) if note.channel == channel]
    for order, note in enumerate(notes):
        pitch = note.pitch
        if note.tied_from_before and pitch == 0:
            # The candidate track has no note to continue: sound the one the tie refers to.
            sounding = _sounding_at_left_boundary(paired, range_start, ticks_per_beat / 8, 0)
            if sounding is None:
                continue
            pitch = sounding.pitch
        start = step_to_tick(bars, ticks_per_beat, note.start_step)
        end = step_to_tick(bars, ticks_per_beat, note.end_step)
        if end > start:
            attack = mido.Message("note_on", channel=channel, note=pitch, velocity=velocity)
            release = mido.Message("note_off", channel=channel, note=pitch, velocity=RELEASE_VELOCITY)
            events.extend([(start, 2, order, attack), (end, 1, order, release)])
    events.sort(key=lambda event: event[:3])
    return _to_delta_track([(tick, message) for tick, _, _, message in events])


def write_candidates_file(
    song: MidiSong,
    track: MidiTrack,
    bars: Sequence[Bar],
    first_bar: int,
    last_bar: int,
    candidates: Sequence[Sequence[StepNote]],
    out_path: str | os.PathLike,
    provenance: str | Sequence[str],
    force: bool = False,
) -> Path:
    """The original song unchanged plus one track chunk per candidate ("candidate 1", ...), each
    holding only that candidate's notes in the target bars, on the melody's channel and program.

    ``provenance`` is one text (written once, in the first candidate's chunk) or one per candidate.
    A type-0 song becomes type 1 (it now has several chunks).
    """
    out_path = Path(out_path)
    _check_output_path(out_path, force, song.path)
    if isinstance(provenance, str):
        provenances: list[str | None] = [provenance] + [None] * (len(candidates) - 1)
    else:
        provenances = list(provenance)
        if len(provenances) != len(candidates):
            raise ValueError(f"got {len(provenances)} provenance texts for {len(candidates)} candidates")
    velocity = nearby_velocity(track, bars, first_bar, last_bar)
    chunks = list(song.midi_file.tracks)
    for number, (notes, text) in enumerate(zip(candidates, provenances), start=1):
        chunks.append(
            _candidate_chunk(song, track, bars, first_bar, last_bar, notes, f"candidate {number}", text, velocity)
        )
    return _atomic_write(out_path, _file_bytes(1, song.ticks_per_beat, chunks), force)


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
    _check_output_path(out_path, force)
    if steps_per_bar < 1:
        raise ValueError(f"steps_per_bar must be at least 1, got {steps_per_bar}")
    if not 0 <= program <= 127 or not 0 <= channel <= 15:
        raise ValueError(f"program must be in range 0..127 and channel 0..15, got {program} and {channel}")
    longest = max((note.end_step for notes in versions for note in notes), default=steps_per_bar)
    version_steps = -(-longest // steps_per_bar) * steps_per_bar
    stride_steps = version_steps + gap_bars * steps_per_bar

    def tick(step: int) -> int:
        return (2 * step * ticks_per_beat + 4) // 8  # a step is a 16th note: ticks_per_beat / 4

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
            if note.tied_from_before and note.pitch == 0:
                continue
            start, end = tick(offset + note.start_step), tick(offset + note.end_step)
            if end > start:
                key = next(order)
                attack = mido.Message("note_on", channel=channel, note=note.pitch, velocity=velocity)
                release = mido.Message("note_off", channel=channel, note=note.pitch, velocity=RELEASE_VELOCITY)
                melody.extend([(start, 2, key, attack), (end, 1, key, release)])
    conductor.sort(key=lambda event: event[:3])
    melody.sort(key=lambda event: event[:3])
    chunks = [
        _to_delta_track([(t, message) for t, _, _, message in conductor]),
        _to_delta_track([(t, message) for t, _, _, message in melody]),
    ]
    return _atomic_write(out_path, _file_bytes(1, ticks_per_beat, chunks), force)


# --- audio ---------------------------------------------------------------------------------------


def find_soundfont() -> str | None:
    """A General MIDI soundfont installed in a usual place, or None."""
    return next((path for path in SOUNDFONT_PATHS if os.path.isfile(path)), None)


def render_wav(midi_path: str | os.PathLike, wav_path: str | os.PathLike, force: bool = False) -> str:
    """Render a MIDI file to a WAV file; returns the renderer used.

    ``fluidsynth`` with a General MIDI soundfont when both are installed (real instruments);
    otherwise pretty_midi's sine-wave synthesis (every part as sine tones, drums left out).
    """
    midi_path, wav_path = Path(midi_path), Path(wav_path)
    _check_output_path(wav_path, force, midi_path)
    fluidsynth, soundfont = shutil.which("fluidsynth"), find_soundfont()
    if fluidsynth and soundfont:
        with tempfile.TemporaryDirectory() as folder:
            rendered = Path(folder) / "render.wav"
            try:
                result = subprocess.run(
                    [fluidsynth, "-ni", "-q", "-r", "44100", "-F", str(rendered), soundfont, str(midi_path)],
                    capture_output=True,
                    timeout=600,
                )
            except (OSError, subprocess.TimeoutExpired) as error:
                raise OutputError(f"fluidsynth could not render {midi_path.name} ({error})") from None
            if result.returncode != 0 or not rendered.is_file():
                raise OutputError(f"fluidsynth could not render {midi_path.name} (exit code {result.returncode})")
            _atomic_write(wav_path, rendered.read_bytes(), force)
        return "fluidsynth"
    _atomic_write(wav_path, _sine_wav_bytes(midi_path), force)
    return "sine tones (pretty_midi)"


def _sine_wav_bytes(midi_path: Path, sample_rate: int = 22_050) -> bytes:
    import wave

    import numpy as np
    import pretty_midi

    read_midi(midi_path)  # one sentence for a bad file, before pretty_midi sees it
    try:
        audio = pretty_midi.PrettyMIDI(str(midi_path)).synthesize(fs=sample_rate)
    except Exception as error:  # noqa: BLE001 - a file read_midi accepts but pretty_midi does not
        raise InputFileError(f"{midi_path.name} could not be synthesized ({error})") from None
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    samples = (audio / peak * 0.8 if peak > 0 else audio) * 32767
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as stream:
        stream.setnchannels(1)
        stream.setsampwidth(2)
        stream.setframerate(sample_rate)
        stream.writeframes(samples.astype("<i2").tobytes())
    return buffer.getvalue()
