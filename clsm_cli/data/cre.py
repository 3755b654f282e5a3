"""CRÉ tunes (``clsm data build --corpus cre DIR``): abc2midi renderings of Irish traditional tunes.

DIR is ``cre_corpus/MIDI`` of ``polifonia-project/folk_ngram_analysis`` (or a folder above it); the
song identity is the file's stem, the tune's title (``AllRoundtheRoomreel``), which is what
``--test-songs`` lists name. abc2midi has two quirks the plain MIDI path would misread:

* every onset sits one tick after the grid: the constant offset most onsets share within a
  triplet-or-16th unit (:func:`clsm_cli.music.phase.grid_offset`) is taken off every note;
* a pickup is not padded, so bar lines counted from tick 0 fall inside the bars. A tune whose
  last bar is short by the pickup's length (ABC's habit: the pickup and the last bar make one bar)
  is shifted later by the last bar's length, so the pickup ends on a bar line, as music21 pads the
  pickup of an ABC tune.

The shifted song then goes through exactly the MIDI path (:func:`data.song_notes.midi_song_notes`).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Collection

import numpy as np

from clsm_cli.data.song_notes import SongNotes, midi_song_notes
from clsm_cli.errors import UsageError
from clsm_cli.music.bars import song_bars
from clsm_cli.music.meter import Meter
from clsm_cli.music.midi_read import read_note_table
from clsm_cli.music.phase import grid_offset
from clsm_cli.music.song import NoteArrays, NoteTable
from clsm_cli.timebase import SIXTEENTH_GRID, Grid

TRIPLET_OR_SIXTEENTH_PER_QUARTER = 12  # the unit both a 16th (3 units) and an 8th triplet (4) hold


def tune_files(root: Path | str) -> list[Path]:
    """The .mid files of a CRÉ ``MIDI`` folder (or of ``cre_corpus/MIDI`` under ``root``), sorted."""
    root = Path(root)
    for candidate in (root, root / "MIDI", root / "cre_corpus" / "MIDI", root / "cre" / "cre_corpus" / "MIDI"):
        files = sorted(candidate.glob("*.mid")) if candidate.is_dir() else []
        if files:
            return files
    raise UsageError(f"{root} holds no CRÉ tunes (cre_corpus/MIDI/*.mid); give that folder")


def shifted_table(table: NoteTable, shift_ticks: int, onsets_only: bool = False) -> NoteTable:
    """``table`` with every note moved by ``shift_ticks`` (only its onset with ``onsets_only``: abc2midi
    writes onsets late but ends on the grid); time signatures stay at their ticks."""
    if not shift_ticks:
        return table
    tracks = []
    for track in table.tracks:
        notes = track.notes
        starts = np.maximum(notes.start_ticks + shift_ticks, 0)
        ends = notes.end_ticks if onsets_only else notes.end_ticks + shift_ticks
        moved = NoteArrays(starts, np.maximum(ends, starts + 1), notes.pitches, notes.velocities)
        tracks.append(replace(track, notes=moved))
    return replace(table, tracks=tracks, end_tick=max(table.end_tick + shift_ticks, 1))


def pickup_padding(table: NoteTable) -> int:
    """Ticks to shift a tune by so its unpadded pickup fills a whole bar (0: none to pad)."""
    bars = song_bars(table)
    if len({bar.meter for bar in bars}) != 1 or not table.last_note_end:
        return 0
    bar_ticks = bars[0].length_ticks
    last_bar = table.last_note_end % bar_ticks  # the pickup and the last bar make one bar
    first_onset = min((int(t.notes.start_ticks.min()) for t in table.tracks if len(t.notes)), default=0)
    return last_bar if first_onset == 0 else 0


def read_tune(path: str | Path, meter_groups: Collection[Meter] | None = None, grid: Grid = SIXTEENTH_GRID) -> SongNotes:
    """One CRÉ tune: its one-tick offset removed, its pickup padded, then the MIDI path."""
    table = read_note_table(path)
    onsets = np.concatenate([t.notes.start_ticks for t in table.tracks if len(t.notes)] or [np.zeros(0, np.int64)])
    offset, _ = grid_offset(onsets, max(1, table.ticks_per_beat // TRIPLET_OR_SIXTEENTH_PER_QUARTER))
    table = shifted_table(table, -offset, onsets_only=True)
    table = shifted_table(table, pickup_padding(table))
    return midi_song_notes(table, meter_groups, grid)
