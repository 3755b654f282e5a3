"""The value types of a MIDI song as clsm reads it: tracks, notes, tempo and meter maps.

A *track* is a (track chunk, channel) pair, so type-0 files and chunks that mix channels split into
their parts; tracks are numbered from 1 in (chunk, channel) order, as ``clsm show`` prints them.
Two readers fill these types (``midi_read.py``): :class:`MidiSong` for the editing commands (with
every event as a mido message, for the surgical writer) and :class:`NoteTable` for ``clsm data
build`` (notes as numpy columns, no mido messages). Nothing here reads or writes bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from clsm_cli.music.mido_module import mido


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




@dataclass(frozen=True)
class PairedNote:
    """A note of a track chunk together with the indices of the events that start and end it.

    The reader pairs every note-on of a chunk once (zero-length notes included) and keeps these, so
    the writer removes and re-times exactly the events the reader paired, never pairing again.
    """

    channel: int
    pitch: int
    velocity: int
    start_tick: int
    end_tick: int
    on_index: int  # index of the note-on in its chunk's events
    off_index: Optional[int]  # None: never released; ends where its pitch is struck again, or with the chunk


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
    text_events: list[str] = field(default_factory=list)  # every text meta event, chunk by chunk
    key_signatures: list[tuple[int, int, bool]] = field(default_factory=list)  # (tick, sharps -7..7, minor), by tick
    # Per chunk: every note with its event indices, by (start tick, note-on index). Empty for a song
    # built in code (the music21 corpus): only the surgical writer needs it.
    chunk_notes: list[list[PairedNote]] = field(default_factory=list)

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
    text_events: list[str] = field(default_factory=list)
    key_signatures: list[tuple[int, int, bool]] = field(default_factory=list)

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
            text_events=list(song.text_events),
            key_signatures=list(song.key_signatures),
        )



def note_arrays(track: MidiTrack | NoteTrack) -> NoteArrays:
    """The notes of either kind of track as columns."""
    return track.notes if isinstance(track.notes, NoteArrays) else NoteArrays.from_notes(track.notes)
