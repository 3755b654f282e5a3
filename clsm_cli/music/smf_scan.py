"""The Standard MIDI File decoder: file checks, header and chunk walking, one track chunk to columns.

Reading checks the file before trusting it: size, header, every chunk length against the bytes
really there, and a cap on events, all before anything large is allocated. :func:`scan_track`
(delta times, running status, meta and system-exclusive events) turns each track chunk into
columns of status and data bytes (:class:`ChunkEvents`); ``midi_read.py`` finds the notes, meters,
tempos, names and texts in those columns. A bad file is refused with one :class:`InputFileError`
sentence, never a traceback.

Known limits: chunks other than ``MTrk`` are skipped; a RIFF ``RMID`` wrapper is unwrapped.
"""

from __future__ import annotations

import struct
from array import array
from dataclasses import dataclass
from pathlib import Path

from clsm_cli.constants import MAX_MIDI_FILE_BYTES, MAX_NOTES_PER_FILE, MAX_TRACKS
from clsm_cli.errors import InputFileError

# Limits beyond constants.py: far above any real song, checked while parsing.
MAX_EVENTS_PER_FILE = 2 * MAX_NOTES_PER_FILE + 1_000_000  # each note is two events, plus controllers
MAX_VARIABLE_LENGTH_BYTES = 4  # the SMF spec's limit for delta times and lengths

META_STATUS = 0xFF
_NOTE_ON = 0x90


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
class ChunkEvents:
    """One track chunk decoded into columns, one entry per event in file order."""

    deltas: array  # typecode "q": delta time in ticks
    statuses: bytearray  # running status resolved; 0xFF meta, 0xF0 / 0xF7 system exclusive
    firsts: bytearray  # first data byte (note, controller, program); a meta event's type byte; 0 for sysex
    seconds: bytearray  # second data byte (velocity, value); 0 when there is none
    payloads: list[bytes]  # the data of each meta and system-exclusive event, in order

    def __len__(self) -> int:
        return len(self.statuses)


def scan_track(data: bytes, budget: _EventBudget) -> ChunkEvents:
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
        elif status == META_STATUS:
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
    return ChunkEvents(deltas, statuses, firsts, seconds, payloads)


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


def parse_file(data: bytes, name: str) -> tuple[int, int, list[ChunkEvents], list[str]]:
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
    tracks: list[ChunkEvents] = []
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
                tracks.append(scan_track(body, budget))
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



def read_file_bytes(path: Path) -> bytes:
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


def check_bytes(data: bytes, name: str) -> None:
    if not data:
        raise InputFileError(f"{name} is empty (0 bytes), not a MIDI file")
    if len(data) > MAX_MIDI_FILE_BYTES:
        raise InputFileError(f"{name} is larger than the {MAX_MIDI_FILE_BYTES // 2**20} MB clsm reads")

