"""Reading MIDI files: one pass from the decoded chunks to tracks, notes, meters, tempos and texts.

``smf_scan.py`` checks the bytes and decodes each track chunk into columns; this module finds the
notes, meters, tempos, names, programs and text events in those columns (:func:`_note_table`).
Two readers share all of that:

* :func:`read_midi` (the editing commands) also turns the columns into ``mido`` messages, which
  the surgical writer copies, and keeps every note's event indices (``MidiSong.chunk_notes``), so
  the writer never pairs notes again; its text events are in ``MidiSong.text_events``;
* :func:`read_note_table` (``clsm data build``) stops at the notes and gives a :class:`NoteTable`
  whose tracks hold their notes as numpy columns, several times faster on a large file.

Both therefore see the same tracks, notes and meters, and refuse a bad file with the same
:class:`InputFileError` sentence. Notes pair a note-on with the first still-open note-on of that
pitch and channel (first in, first out); a note-on with velocity 0 is a note-off; a note never
released ends at the end of its chunk.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path

import numpy as np

from clsm_cli.constants import DRUM_CHANNEL
from clsm_cli.music.mido_module import mido  # before any other import of mido: it spares mido a slow lookup
from mido.midifiles.meta import UnknownMetaMessage, build_meta_message  # after mido_module, which imports mido
from clsm_cli.errors import InputFileError
from clsm_cli.music.smf_scan import META_STATUS, ChunkEvents, check_bytes, parse_file, read_file_bytes
from clsm_cli.music.song import MidiSong, MidiTrack, NoteArrays, NoteTable, NoteTrack, PairedNote

MAX_SONG_BEATS = 100_000  # about 14 hours at 120 BPM; more means corrupt delta times

_TIME_SIGNATURE_META = 0x58
_SET_TEMPO_META = 0x51
_TRACK_NAME_META = 0x03
_TEXT_META = 0x01
_KEY_SIGNATURE_META = 0x59
SEQUENCER_SPECIFIC_META = 0x7F
# clsm's sequencer-specific events start with the MIDI manufacturer id 0x7D (non-commercial use) and
# the tag "CLSM"; what follows is UTF-8 text (the provenance record), read back with the text events.
CLSM_SEQUENCER_PREFIX = b"\x7dCLSM"
_NOTE_OFF = 0x80
_NOTE_ON = 0x90
_PROGRAM_CHANGE = 0xC0
_KEYS_PER_CHANNEL = 128  # note-pairing keys: (chunk, channel, pitch) as one integer
_KEYS_PER_CHUNK = 16 * _KEYS_PER_CHANNEL


# --- mido messages for the writer ----------------------------------------------------------------


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


def _mido_track(events: ChunkEvents) -> mido.MidiTrack:
    """The chunk's events as mido messages with delta times (what the surgical writer copies)."""
    track = mido.MidiTrack()
    append = track.append
    payloads = iter(events.payloads)
    for delta, status, first, second in zip(events.deltas, events.statuses, events.firsts, events.seconds):
        if status < 0xF0:
            append(_channel_message(status, first, second, delta))
        elif status == META_STATUS:
            append(_meta_message(first, next(payloads), delta))
        else:
            append(_sysex_message(next(payloads), delta))
    return track



# --- notes, meters, tempos, texts ------------------------------------------------------------------


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


def _pair_by_strikes(keys: np.ndarray, is_on: np.ndarray, is_off: np.ndarray, on_events: np.ndarray,
                     off_events: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pair again, by strikes, the keys where first-in-first-out pairing left a note-on unreleased.

    A part that never releases its notes (a strummed guitar: hundreds of note-ons, a few note-offs)
    would otherwise pair its first strikes with note-offs many bars later. For such a key, a note-on
    ends the key's note still sounding (a re-strike), and a note-off ends the sounding note, if any.
    Returns the new ``off_events`` and ``struck_again``: for each note, the note-on that ended it
    (-1 where none did). Keys where every note-on found its note-off keep their pairing.
    """
    struck_again = np.full(len(on_events), -1, dtype=np.int64)
    unreleased = off_events < 0
    if not unreleased.any():
        return off_events, struck_again
    off_events = off_events.copy()
    unreleased_keys = np.unique(keys[on_events[unreleased]])
    note_of_event = {event: note for note, event in enumerate(on_events.tolist())}
    sounding: dict[int, int] = {}  # key -> the note sounding now
    for event in np.flatnonzero((is_on | is_off) & np.isin(keys, unreleased_keys)).tolist():
        key = int(keys[event])
        if is_on[event]:
            if key in sounding:
                struck_again[sounding[key]] = event
            note = note_of_event[event]
            off_events[note] = -1
            sounding[key] = note
        elif key in sounding:
            off_events[sounding.pop(key)] = event
    return off_events, struck_again


def _note_table(
    path: Path, midi_format: int, ticks_per_beat: int, chunks: list[ChunkEvents], warnings: list[str],
    with_chunk_notes: bool = False,
) -> tuple[NoteTable, list[list[PairedNote]]]:
    """Tracks, notes, meters, tempos and texts from the decoded chunks (the part both readers share),
    and with ``with_chunk_notes`` every paired note of each chunk with its event indices."""
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
    texts: list[str] = []
    key_signatures: list[tuple[int, int, bool]] = []
    payloads = [payload for chunk in chunks for payload in chunk.payloads]
    for index, payload in zip(np.flatnonzero(statuses >= 0xF0).tolist(), payloads):
        if statuses[index] != META_STATUS:
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
        elif meta_type == _TEXT_META:
            texts.append(_decode_text(payload))
        elif meta_type == _KEY_SIGNATURE_META and len(payload) >= 2:
            sharps = payload[0] - 256 if payload[0] > 127 else payload[0]  # a signed byte
            if -7 <= sharps <= 7 and payload[1] in (0, 1):  # anything else is ignored, not fatal
                key_signatures.append((int(ticks[index]), sharps, payload[1] == 1))
        elif meta_type == SEQUENCER_SPECIFIC_META and payload.startswith(CLSM_SEQUENCER_PREFIX):
            texts.append(_decode_text(payload[len(CLSM_SEQUENCER_PREFIX) :]))

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
    off_events, struck_again = _pair_by_strikes(keys, is_on, is_off, on_events, off_events)
    starts = ticks[on_events]
    never_closed = off_events < 0  # ends where its pitch is struck again, or with its chunk
    ends = np.where(never_closed, np.maximum(starts, chunk_ends[chunk_of[on_events]]), ticks[off_events])
    ends = np.where(struck_again >= 0, ticks[struck_again], ends)
    chunk_notes = (
        _chunk_notes(on_events, off_events, starts, ends, chunk_of, first_event, channels, firsts, seconds, len(chunks))
        if with_chunk_notes
        else []
    )
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
        warnings.append(f"{never_released} note(s) in {name} are never released; each ends where its pitch is "
                        "struck again, or with its track")

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
    key_signatures.sort(key=lambda signature: signature[0])
    had_tempo = bool(tempos)
    table = NoteTable(
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
        text_events=texts,
        key_signatures=key_signatures,
    )
    return table, chunk_notes


def _chunk_notes(
    on_events: np.ndarray, off_events: np.ndarray, starts: np.ndarray, ends: np.ndarray,
    chunk_of: np.ndarray, first_event: np.ndarray, channels: np.ndarray, firsts: np.ndarray,
    seconds: np.ndarray, num_chunks: int,
) -> list[list[PairedNote]]:
    """Every paired note per chunk (zero-length ones included) with its events' chunk indices."""
    notes: list[list[PairedNote]] = [[] for _ in range(num_chunks)]
    columns = (on_events.tolist(), off_events.tolist(), starts.tolist(), ends.tolist())
    for on_event, off_event, start, end in zip(*columns):
        chunk = int(chunk_of[on_event])
        offset = int(first_event[chunk])
        off_index = None if off_event < 0 else off_event - offset
        notes[chunk].append(PairedNote(
            int(channels[on_event]), int(firsts[on_event]), int(seconds[on_event]), start, end,
            on_event - offset, off_index,
        ))
    for chunk_notes in notes:
        chunk_notes.sort(key=lambda note: (note.start_tick, note.on_index))
    return notes


_RECENT_FILES = 8  # files whose bytes a command keeps, so reading a song and its records is one read
_recent_bytes: "OrderedDict[tuple, bytes]" = OrderedDict()


def file_identity(path: str | os.PathLike) -> tuple[str, int, int]:
    """(resolved path, modification time in ns, size): what the read-once memories key a file by,
    so a file changed since it was read is read again. OSError when it cannot be looked at."""
    path = Path(path)
    stat = path.stat()
    return str(path.resolve()), stat.st_mtime_ns, stat.st_size


def _bytes_read_once(path: Path) -> bytes:
    """``read_file_bytes(path)``, remembering the last few files read (by :func:`file_identity`):
    a command that reads an input's provenance, then its notes (to choose a model, then to edit)
    reads the file once. A file changed since is read again."""
    try:
        identity = file_identity(path)
    except OSError:
        return read_file_bytes(path)  # it says what is wrong in one sentence
    if identity not in _recent_bytes:
        _recent_bytes[identity] = read_file_bytes(path)
        while len(_recent_bytes) > _RECENT_FILES:
            _recent_bytes.popitem(last=False)
    _recent_bytes.move_to_end(identity)
    return _recent_bytes[identity]


def read_midi(path: str | os.PathLike) -> MidiSong:
    """Read a MIDI file of type 0 or 1; InputFileError (one sentence) for anything unusable."""
    path = Path(path)
    return _song_from_bytes(_bytes_read_once(path), path)


def read_note_table(path: str | os.PathLike) -> NoteTable:
    """:func:`read_midi` without the mido messages, for ``clsm data build``: the same tracks,
    notes (as columns), meters and tempos, and the same error for a bad file."""
    path = Path(path)
    return _table_from_bytes(read_file_bytes(path), path)


def song_from_bytes(data: bytes, name: str = "input.mid") -> MidiSong:
    """:func:`read_midi` for bytes already in memory (tests, fuzzing); ``name`` is used in messages."""
    check_bytes(data, name)
    return _song_from_bytes(data, Path(name))


def note_table_from_bytes(data: bytes, name: str = "input.mid") -> NoteTable:
    """:func:`read_note_table` for bytes already in memory; ``name`` is used in messages."""
    check_bytes(data, name)
    return _table_from_bytes(data, Path(name))


def _table_from_bytes(data: bytes, path: Path) -> NoteTable:
    midi_format, ticks_per_beat, chunks, warnings = parse_file(data, path.name or str(path))
    table, _ = _note_table(path, midi_format, ticks_per_beat, chunks, warnings)
    return table


def _song_from_bytes(data: bytes, path: Path) -> MidiSong:
    midi_format, ticks_per_beat, chunks, warnings = parse_file(data, path.name or str(path))
    table, chunk_notes = _note_table(path, midi_format, ticks_per_beat, chunks, warnings, with_chunk_notes=True)
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
        text_events=table.text_events,
        key_signatures=table.key_signatures,
        chunk_notes=chunk_notes,
    )


def read_text_events(path: str | os.PathLike) -> list[str]:
    """The text of every ``text`` meta event and clsm sequencer-specific event in the file, chunk by
    chunk (provenance lines), without reading its notes (a file of another tool may hold none)."""
    path = Path(path)
    _, _, chunks, _ = parse_file(_bytes_read_once(path), path.name)
    texts = []
    for chunk in chunks:
        # Payloads belong to the meta and system-exclusive events (statuses >= 0xF0), in order.
        kinds = ((status, first) for status, first in zip(chunk.statuses, chunk.firsts) if status >= 0xF0)
        for kind, payload in zip(kinds, chunk.payloads):
            if kind == (META_STATUS, _TEXT_META):
                texts.append(_decode_text(payload))
            elif kind == (META_STATUS, SEQUENCER_SPECIFIC_META) and payload.startswith(CLSM_SEQUENCER_PREFIX):
                texts.append(_decode_text(payload[len(CLSM_SEQUENCER_PREFIX) :]))
    return texts


def _decode_text(payload: bytes) -> str:
    """Text written by clsm is UTF-8; other files' text is often Latin-1."""
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        return payload.decode("latin-1")
