"""Grid phase against POP909's annotated beats (issue 24 item 5): does the detected phase put the bar
and beat lines where ``beat_midi.txt`` has them?

For each song (``--songs``; default: the POP909 test songs of ``data/test_songs/pop909.txt`` found
under ROOT), the MELODY track's phase is detected from the notes alone (``music/phase.py``: the offset
within a 16th that 80% of onsets share, then the beat and bar phase from onsets, long notes, bass
notes and kick/snare) and compared with the annotation: the beats' median offset within a beat
(mapped to ticks through the tempo map) and the first downbeat's position within a 4/4 bar. Printed
per song and in total: the detected and annotated phases, whether the beat phase matches (within a
32nd) and whether the bar phase does; and the share of melody onsets on annotated beats counted on
the bars clsm reads by default (the applied part of the detected phase, ``GridPhase.applied_ticks``)
against from tick 0 (``--phase 0``).

``--edits MODEL`` also edits each song (``clsm infill --meter 4/4``, bars 9-10, 17-18 and 25-26,
2 candidates) twice, from tick 0 (``--phase 0``) and with the phase applied by default, and prints the share
of new notes on annotated beats (within a 64th) against the real notes of the same bars: the
issue's goal is new notes within 5 points of the real ones.

Usage: ``python benchmarks/phase.py /tmp/pop909/pop909 [--songs 010,101,...] [--edits folk-small]``
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from clsm_cli.data.corpus import read_test_songs  # noqa: E402
from clsm_cli.data.pop909 import BEATS_FILE, beat_phase_ticks, pop909_songs_root, read_beats, seconds_to_ticks  # noqa: E402
from clsm_cli.music.midi_read import read_midi  # noqa: E402
from clsm_cli.music.phase import song_grid_phase  # noqa: E402


def on_beat_share(onsets: np.ndarray, phase: int, beat_ticks: np.ndarray, tpb: int) -> float:
    """Share of annotated beats that fall on a beat line of bars counted from ``phase`` (within a 32nd)."""
    distance = np.abs((beat_ticks - phase + tpb / 2) % tpb - tpb / 2)
    return float(np.mean(distance <= tpb / 8))


TARGETS = ("9-10", "17-18", "25-26")


def _on_beats(ticks: list[int], beats: np.ndarray, tpb: int) -> tuple[int, int]:
    if not ticks:
        return 0, 0
    distance = np.min(np.abs(np.asarray(ticks)[:, None] - beats[None, :]), axis=1)
    return int((distance <= tpb / 16).sum()), len(ticks)  # within a 64th


def edit_shares(midi_path: Path, beats: np.ndarray, phase: int, model: str) -> dict[str, tuple[int, int]]:
    """New notes on annotated beats after infills from tick 0 and from ``phase``, and the real notes'."""
    import tempfile

    from typer.testing import CliRunner

    from clsm_cli.cli.app import app
    from clsm_cli.music.bars import BarRange, song_bars
    from clsm_cli.music.meter import Meter

    original = read_midi(midi_path)
    melody_index = next(i for i, t in enumerate(original.tracks) if t.name.strip().upper() == "MELODY")
    counts = {"real": [0, 0], "from tick 0": [0, 0], "default": [0, 0]}
    for label, phase_ticks in (("from tick 0", 0), ("default", phase)):
        bars = song_bars(original, Meter(4, 4), phase_ticks)
        for target in TARGETS:
            first, last = BarRange.parse(target).tick_span(bars)
            before = {(n.start_tick, n.pitch) for n in original.tracks[melody_index].notes}
            if label == "from tick 0":
                real = [n.start_tick for n in original.tracks[melody_index].notes if first <= n.start_tick < last]
                counts["real"] = [a + b for a, b in zip(counts["real"], _on_beats(real, beats, original.ticks_per_beat))]
            with tempfile.TemporaryDirectory() as out:
                phase_option = ["--phase", "0"] if label == "from tick 0" else []  # default: the phase clsm applies
                done = CliRunner().invoke(app, ["infill", str(midi_path), "--meter", "4/4", "--bars", target, *phase_option,
                                                "--model", model, "-n", "2", "--seed", "1",
                                                "--out", out, "--no-preview", "--track", "MELODY"])
                if done.exit_code != 0:
                    continue
                for path in Path(out).glob("*.mid"):
                    edited = read_midi(path).tracks[melody_index].notes
                    new = [n.start_tick for n in edited if first <= n.start_tick < last and (n.start_tick, n.pitch) not in before]
                    counts[label] = [a + b for a, b in zip(counts[label], _on_beats(new, beats, original.ticks_per_beat))]
    return {label: tuple(value) for label, value in counts.items()}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("--songs", default=None, help="comma-separated song numbers (default: the test list)")
    parser.add_argument("--edits", default=None, metavar="MODEL", help="also edit each song with this 4/4 model")
    args = parser.parse_args(argv)
    base = pop909_songs_root(args.root)
    names = args.songs.split(",") if args.songs else sorted(read_test_songs([ROOT / "data" / "test_songs" / "pop909.txt"]))
    rows, beat_hits, bar_hits, shares = [], 0, 0, []
    edits = {"real": [0, 0], "from tick 0": [0, 0], "default": [0, 0]}
    applied_beat_hits, applied_bar_hits = 0, 0
    for name in names:
        midi_path = base / name / f"{name}.mid"
        if not midi_path.is_file():
            continue
        song = read_midi(midi_path)
        tpb = song.ticks_per_beat
        melody = next(track for track in song.tracks if track.name.strip().upper() == "MELODY")
        detected = song_grid_phase(song, melody, 16)
        times, downbeats = read_beats(base / name / BEATS_FILE)
        beats = seconds_to_ticks(times, song.tempos, tpb)
        beat_phase = beat_phase_ticks(beats, tpb)
        bar_phase = int(round(float(beats[np.flatnonzero(downbeats)[0]] % (4 * tpb))))
        beat_ok = abs((detected.ticks - beat_phase + tpb / 2) % tpb - tpb / 2) <= tpb / 8
        bar_ok = abs((detected.ticks - bar_phase + 2 * tpb) % (4 * tpb) - 2 * tpb) <= tpb / 8
        beat_hits += beat_ok
        bar_hits += bar_ok
        applied = detected.applied_ticks  # what clsm applies when --phase is not given
        applied_beat_ok = abs((applied - beat_phase + tpb / 2) % tpb - tpb / 2) <= tpb / 8
        applied_bar_ok = abs((applied - bar_phase + 2 * tpb) % (4 * tpb) - 2 * tpb) <= tpb / 8
        applied_beat_hits += applied_beat_ok
        applied_bar_hits += applied_bar_ok
        with_phase, without = on_beat_share(beats, applied, beats, tpb), on_beat_share(beats, 0, beats, tpb)
        shares.append((with_phase, without))
        if args.edits:
            for label, (hits, total) in edit_shares(midi_path, beats, applied, args.edits).items():
                edits[label] = [edits[label][0] + hits, edits[label][1] + total]
        rows.append(f"  {name}  detected {detected.ticks:5d}  applied {applied:5d}  beats at {beat_phase:4d} "
                    f"{'ok' if beat_ok else 'x '}/{'ok' if applied_beat_ok else 'x '}  "
                    f"bars at {bar_phase:5d} {'ok' if bar_ok else 'x '}/{'ok' if applied_bar_ok else 'x '}  "
                    f"annotated beats on clsm's beats: "
                    f"{100 * with_phase:5.1f}% with the applied phase, {100 * without:5.1f}% from tick 0")
    print(f"grid phase on {len(rows)} POP909 songs of {args.root} (detected from the notes; annotated: beat_midi.txt)")
    print("\n".join(rows))
    if rows:
        with_phase, without = np.mean(shares, axis=0)
        print(f"detected: beat phase right on {beat_hits} of {len(rows)}, bar phase on {bar_hits}; applied by default: "
              f"beat phase right on {applied_beat_hits}, bar phase on {applied_bar_hits}; annotated beats on clsm's "
              f"beat lines: {100 * with_phase:.1f}% with the applied phase, {100 * without:.1f}% from tick 0")
    if args.edits:
        print(f"notes on annotated beats after infills by {args.edits} (bars {', '.join(TARGETS)}, 2 candidates): "
              + "; ".join(f"{label} {100 * hits / max(total, 1):.1f}% of {total}" for label, (hits, total) in edits.items()))


if __name__ == "__main__":
    main()
