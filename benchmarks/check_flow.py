"""Check the infill -> interpolate flow of a folder: the ends are the candidates, nothing outside moved.

    python benchmarks/check_flow.py FOLDER TUNE.mid BARS   (e.g. . examples/hoert-ihr-herrn.mid 3-4)

Prints the target pitches of every step and exits 1 when a check fails.
"""

from __future__ import annotations

import sys
from pathlib import Path

from clsm_cli.music.bars import BarRange, song_bars
from clsm_cli.music.midi_read import read_midi


def notes_by_place(path: Path, bars: BarRange) -> tuple[list, list]:
    """(notes starting inside the target ticks, notes outside) of every track, as plain tuples."""
    song = read_midi(path)
    start, end = bars.tick_span(song_bars(song))
    inside, outside = [], []
    for track in song.tracks:
        for note in track.notes:
            row = (track.number, note.start_tick, note.end_tick, note.pitch)
            if start <= note.start_tick < end:
                inside.append(row)
            elif note.end_tick <= start or note.start_tick >= end:
                outside.append(row)
            else:  # a note crossing a boundary: keep the part outside the target
                outside.append((track.number, note.start_tick, min(note.end_tick, start), note.pitch))
    return sorted(inside), sorted(outside)


def main(folder: str, tune: str, bars_text: str) -> int:
    bars = BarRange.parse(bars_text)
    stem = Path(tune).stem
    infills = sorted(Path(folder).glob(f"{stem}.infill-bars{bars.first}-{bars.last}-s*-*.mid"))
    steps = sorted(Path(folder).glob(f"{stem}.interpolate-*.mid"), key=lambda p: int(p.stem.rsplit("-", 1)[1]))
    _, tune_outside = notes_by_place(Path(tune), bars)
    failures = []
    for path in steps:
        inside, outside = notes_by_place(path, bars)
        print(path.name, [row[3] for row in inside])
        if outside != tune_outside:
            failures.append(f"{path.name} differs from the tune outside {bars}")
    first, last = notes_by_place(steps[0], bars)[0], notes_by_place(steps[-1], bars)[0]
    if first != notes_by_place(infills[0], bars)[0]:
        failures.append("the first step is not candidate 1")
    if last != notes_by_place(infills[1], bars)[0]:
        failures.append("the last step is not candidate 2")
    print(f"{len(steps)} steps;", "; ".join(failures) or "all checks pass")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
