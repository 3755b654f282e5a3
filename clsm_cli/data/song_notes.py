"""A song as every source reduces to it: whole bars in meter sections, and its tracks' step notes.

Both readers of ``clsm data build`` end here: a MIDI file (:func:`read_midi_notes`) and a music21
tune rendered as a MIDI song (:mod:`clsm_cli.data.music21_corpus`), through :func:`midi_song_notes`:
bars from the time signatures, tracks quantized onto the song step grid (a 16th note a step; bar
``b`` starts where bar ``b - 1`` ends), and the bars grouped into *meter sections*: runs of bars
whose meters share a model group (4/4 and 2/2 are one group). Windows are cut inside sections only,
so none crosses a meter change.

A song the dataset cannot use raises :class:`SongSkipped` with one of ``SKIP_REASONS``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Collection, Sequence

import numpy as np

from clsm_cli.constants import MAX_PITCH, MIN_PITCH
from clsm_cli.music import melody
from clsm_cli.music.bars import Bar, song_bars
from clsm_cli.timebase import FOUR_FOUR, Meter, meters_text
from clsm_cli.music.midi_read import read_note_table
from clsm_cli.music.song import MidiSong, NoteTable
from clsm_cli.music.tokens import NoteColumns, StepNote
from clsm_cli.music.triplets import encode_fine_notes, place_on_triplet_grid
from clsm_cli.music.voices import top_line
from clsm_cli.timebase import SIXTEENTH_GRID, Grid

# Why a file or tune gives no windows. "error" is a failure inside clsm (a bug), never bad input.
# "duplicate": the melody of a song kept earlier in the build (another corpus's copy of one tune).
SKIP_REASONS = ("unreadable", "meter", "irregular bars", "no usable track", "no window", "duplicate", "error")


class SongSkipped(Exception):
    """A song the dataset cannot use, with a reason from SKIP_REASONS and a short detail."""

    def __init__(self, reason: str, detail: str):
        assert reason in SKIP_REASONS, reason
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class MeterSection:
    """Consecutive whole bars of one meter group: bars ``first_bar .. first_bar + num_bars - 1``
    (0-based), starting at ``first_step`` of the song step grid."""

    group: Meter  # the meter standing for the group (4/4 for 2/2 bars)
    meters: tuple[Meter, ...]  # the meters its bars are written in, sorted
    first_bar: int
    num_bars: int
    first_step: int

    @property
    def steps_per_bar(self) -> int:
        return self.group.steps_per_bar

    @property
    def end_step(self) -> int:
        return self.first_step + self.num_bars * self.steps_per_bar


@dataclass(frozen=True)
class TrackNotes:
    """One track of a song as step notes on the song step grid."""

    number: int  # the track index clsm show prints (MIDI) or the part index (music21)
    name: str
    notes: Sequence[StepNote]
    is_drum: bool = False
    is_bass: bool = False
    is_monophonic: bool = True  # no note starts while another sounds (legato overlaps allowed)
    is_in_range: bool = True  # every pitch in 55..84 (also checked on ``notes``)
    tokens: np.ndarray | None = None  # the whole song's tokens on the triplet grid (None: encode ``notes``)

    @cached_property
    def columns(self) -> NoteColumns:
        """``notes`` as columns, built once for the range check, the shifts and the tokens."""
        return NoteColumns.from_notes(self.notes)


@dataclass(frozen=True)
class SongNotes:
    """A song: its bars in meter sections and its tracks' step notes.

    ``sections`` empty means the paper's case: one 4/4 section over all ``num_bars`` (songs built
    in code by tests and benchmarks).
    """

    num_bars: int
    tracks: Sequence[TrackNotes]
    sections: tuple[MeterSection, ...] = ()
    annotations: dict | None = None  # what a corpus reader keeps beside the windows (POP909 chords, keys)

    @property
    def meter_sections(self) -> tuple[MeterSection, ...]:
        if self.sections:
            return self.sections
        return (MeterSection(FOUR_FOUR, (FOUR_FOUR,), 0, self.num_bars, 0),)

    @property
    def total_steps(self) -> int:
        return self.meter_sections[-1].end_step


def meter_sections(bars: Sequence[Bar]) -> tuple[MeterSection, ...]:
    """Maximal runs of whole bars in one meter group; SongSkipped("irregular bars") for a bar cut
    short by a time signature off the bar line (the song step grid would not hold whole bars)."""
    for bar in bars:
        if not bar.is_complete:
            raise SongSkipped("irregular bars", f"bar {bar.number} is cut short by a time signature off the bar line")
    sections: list[MeterSection] = []
    run: list[Bar] = []
    for bar in list(bars) + [None]:
        group = Meter(*bar.meter).group if bar is not None else None
        if run and group != Meter(*run[0].meter).group:
            meters = tuple(sorted({Meter(*member.meter) for member in run}))
            sections.append(MeterSection(Meter(*run[0].meter).group, meters, run[0].number - 1, len(run), run[0].first_step))
            run = []
        if bar is not None:
            run.append(bar)
    return tuple(sections)


def read_midi_notes(path: str | Path, meter_groups: Collection[Meter] | None = None,
                    grid: Grid = SIXTEENTH_GRID) -> SongNotes:
    """A MIDI file as step notes; InputFileError when unreadable, SongSkipped when unusable.

    Reads with ``midi_read.read_note_table``: the editing commands' reader without its mido messages
    (same tracks, notes and errors; the tests compare the two on every kind of file).
    """
    return midi_song_notes(read_note_table(path), meter_groups, grid)


def midi_song_notes(
    song: MidiSong | NoteTable, meter_groups: Collection[Meter] | None = None, grid: Grid = SIXTEENTH_GRID
) -> SongNotes:
    """A song read from MIDI (or built like one, see music21_corpus) as step notes, the way the
    editing commands see it: bars from time signatures, tracks quantized to the song step grid.

    ``meter_groups`` (None: every meter) are the groups the build keeps; a song with no bar in any
    of them is skipped for its meter before its tracks are quantized.

    A track is monophonic when no note starts while another still sounds (melody.polyphony_share:
    overlaps shorter than a 32nd note count as legato) and no two notes start together. What
    rounding onto the grid still overlaps is cut by melody.reduce_to_monophony (quantize_line).
    On the triplet ``grid`` each usable track also carries its tokens (``music/triplets.py``).
    """
    table = song if isinstance(song, NoteTable) else NoteTable.from_song(song)
    bars = song_bars(table)
    if meter_groups is not None:
        written = sorted({Meter(*bar.meter) for bar in bars})
        if not any(meter.group in meter_groups for meter in written):
            wanted = meters_text(sorted(meter_groups))
            raise SongSkipped("meter", f"in {meters_text(written)}, not among the meters asked for ({wanted})")
    sections = meter_sections(bars)
    tracks = []
    for track in table.tracks:
        is_bass = melody.is_bass_track(track)
        if track.is_drum or is_bass or not len(track.notes):
            tracks.append(TrackNotes(track.number, track.name, (), track.is_drum, is_bass))
            continue
        if melody.polyphony_share(track, table.ticks_per_beat) > 0:
            tracks.append(TrackNotes(track.number, track.name, (), is_monophonic=False))
            continue
        pitches = track.notes.pitches
        if pitches.min() < MIN_PITCH or pitches.max() > MAX_PITCH:
            # Quantizing keeps pitches: decide before spending time on it.
            tracks.append(TrackNotes(track.number, track.name, (), is_in_range=False))
            continue
        line, _ = melody.quantize_line(track, bars, table.ticks_per_beat)
        tokens = triplet_tokens(track, bars, table.ticks_per_beat) if grid.has_triplets else None
        tracks.append(TrackNotes(track.number, track.name, line, tokens=tokens))
    return SongNotes(num_bars=len(bars), tracks=tracks, sections=sections)


def triplet_tokens(track, bars: Sequence[Bar], ticks_per_beat: int) -> np.ndarray:
    """A track's tokens on the triplet grid over the whole song (its top voice, as on 16ths)."""
    notes = track.notes
    placement = place_on_triplet_grid(notes.start_ticks, notes.end_ticks, notes.pitches, bars, ticks_per_beat)
    return encode_fine_notes(top_line(placement.notes), placement.triplet_steps, bars[-1].end_step)
