"""What an edit must leave alone, read back from the files."""

from __future__ import annotations

import mido

from clsm_cli.editing.provenance import PROVENANCE_PREFIX
from clsm_cli.music.bars import BarRange, song_bars
from clsm_cli.music.midi_read import read_midi


def events_outside(path, target: BarRange, meter=None):
    """Every event of the file, as (chunk, tick, content), but the notes inside the target bars
    (counted in ``meter`` when given) and clsm's provenance text."""
    start, end = target.tick_span(song_bars(read_midi(path), meter))
    events = []
    for index, chunk in enumerate(mido.MidiFile(path).tracks):
        tick = 0
        for message in chunk:
            tick += message.time
            if message.type == "text" and message.text.startswith(PROVENANCE_PREFIX):
                continue
            if message.type in ("note_on", "note_off"):
                attack = message.type == "note_on" and message.velocity > 0
                if (attack and start <= tick < end) or (not attack and start < tick <= end):
                    continue
            events.append((index, tick, sorted((k, v) for k, v in message.dict().items() if k != "time")))
    return events
