"""Checks on an edited file against its input: what must stay event for event outside the target.

:func:`outside_target_changes` reads both files with mido (independently of clsm's reader, apart
from the bars and the quantized onsets that say which bar a note belongs to) and lists every note
of every track whose onset falls outside the target bars and that did not come through with the
same note-on and note-off ticks, pitch, channel and velocity. The one change the rules allow (a note
of the edited track that ends where a new note of the target starts, because a melody line does not
overlap itself) is listed separately, so a test can check it is exactly that.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import mido

from clsm_cli.editing.provenance import PROVENANCE_PREFIX
from clsm_cli.music.midi_read import CLSM_SEQUENCER_PREFIX
from clsm_cli.music.bars import BarRange, song_bars
from clsm_cli.music.melody import in_bars, split_top_voice
from clsm_cli.music.midi_read import read_midi


@dataclass(frozen=True)
class MidoNote:
    chunk: int
    channel: int
    pitch: int
    velocity: int
    start_tick: int
    end_tick: int


def mido_notes(path) -> list[MidoNote]:
    """Every note of every chunk, paired first-in first-out per (channel, pitch), read with mido."""
    notes = []
    for chunk, track in enumerate(mido.MidiFile(path).tracks):
        now, sounding = 0, {}
        for message in track:
            now += message.time
            if message.type == "note_on" and message.velocity > 0:
                sounding.setdefault((message.channel, message.note), []).append((now, message.velocity))
            elif message.type in ("note_on", "note_off"):
                started = sounding.get((message.channel, message.note))
                if started:
                    start, velocity = started.pop(0)
                    notes.append(MidoNote(chunk, message.channel, message.note, velocity, start, now))
    return notes


def _outside_notes(path, target: BarRange) -> Counter:
    """The notes of every track whose quantized onset lies outside ``target`` (as clsm reads them)."""
    song = read_midi(path)
    bars = song_bars(song)
    outside = Counter()
    for track in song.tracks:
        split = split_top_voice(track, bars, song.ticks_per_beat)
        for voiced in split.top + split.others:
            if not in_bars(voiced, bars, target.first, target.last):
                note = voiced.note
                outside[(track.chunk, track.channel, note.pitch, note.velocity, note.start_tick, note.end_tick)] += 1
    return outside


@dataclass(frozen=True)
class OutsideChanges:
    missing: list  # outside notes of the input not in the output, as they were
    shortened: list  # (input note, output end tick) of those that end where a new note starts


def outside_target_changes(input_path, output_path, target: BarRange) -> OutsideChanges:
    """What happened to the input's notes outside ``target`` in the output (see the module docstring)."""
    before = _outside_notes(input_path, target)
    output_notes = mido_notes(output_path)
    after = Counter((n.chunk, n.channel, n.pitch, n.velocity, n.start_tick, n.end_tick) for n in output_notes)
    missing = list((before - after).elements())
    bars = song_bars(read_midi(input_path))  # the output has the same bars (it may have no notes left)
    range_start, range_end = target.tick_span(bars)
    output_starts = {(n.chunk, n.channel, n.start_tick) for n in output_notes}
    shortened, unexplained = [], []
    for key in missing:
        chunk, channel, pitch, velocity, start, end = key
        same = [n for n in output_notes if (n.chunk, n.channel, n.pitch, n.velocity, n.start_tick)
                == (chunk, channel, pitch, velocity, start) and start < n.end_tick < end]
        cut = next((n.end_tick for n in same if range_start <= n.end_tick < range_end
                    and (chunk, channel, n.end_tick) in output_starts), None)
        (shortened if cut is not None else unexplained).append((key, cut) if cut is not None else key)
    return OutsideChanges(unexplained, shortened)


def events_outside(path, target: BarRange, meter=None, channel: int | None = None) -> list:
    """Every event of the file, as (chunk, tick, content), but clsm's provenance text and the notes
    inside the target bars (counted in ``meter`` when given; of ``channel`` only, when given)."""
    start, end = target.tick_span(song_bars(read_midi(path), meter))
    events = []
    for index, chunk in enumerate(mido.MidiFile(path).tracks):
        tick = 0
        for message in chunk:
            tick += message.time
            if message.type == "text" and message.text.startswith(PROVENANCE_PREFIX):
                continue  # provenance as format 1 wrote it
            if message.type == "sequencer_specific" and bytes(message.data).startswith(CLSM_SEQUENCER_PREFIX):
                continue
            if message.type in ("note_on", "note_off") and channel in (None, message.channel):
                attack = message.type == "note_on" and message.velocity > 0
                if (attack and start <= tick < end) or (not attack and start < tick <= end):
                    continue
            events.append((index, tick, sorted((k, v) for k, v in message.dict().items() if k != "time")))
    return events
