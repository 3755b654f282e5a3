"""The harmony figure of issue 24: chord-tone share of new notes on beats 1 and 3 against the real bars'.

Two measures, each printing the share of new and of real notes and their difference (the issue's
goal: within 0.10):

* ``--songs ROOT`` (the issue's figure): the POP909 test songs (``--split-of DATA``: the songs a
  data build put in its test split; default: ``data/test_songs/pop909.txt``) found under ROOT, each
  edited as a musician edits it, with its piano and bridge tracks around the melody:
  ``clsm infill SONG --meter 4/4 --track MELODY --bars B`` for bars 9-10, 17-18, 25-26 and 33-34,
  ``--candidates`` files each, every default on (the model choice unless ``--model``, the ranked
  pool, the controls). Beats 1 and 3 and the chords come from the song's annotations
  (``beat_midi.txt``, ``chord_midi.txt``, mapped to ticks through the tempo map); a note counts
  when it starts within a 64th of such a beat. Real notes: the melody's in the same bars; new
  notes: the output's melody notes in those bars that the original does not have.
* ``--data DATA`` (the model alone): on ``--windows`` test windows of a POP909 data set (``clsm data build --corpus pop909``, whose
``sources.json`` keeps each song's chords on the song step grid), a ``--bars``-bar target (bars 3-4
of the window by default) is filled in ``--candidates`` times by the model, with its recommended
decoding; the notes starting on beats 1 and 3 of the target, real and new, are checked against the
chord annotated there. Printed: both shares, their difference (the issue's goal: within 0.10), and
the counts. The card writer (``scripts/write_card.py --harmony LOG``) quotes the printed line.

Usage::

    python benchmarks/harmony.py --songs /tmp/pop909/pop909 --split-of data/pop909 [--model pop-small]
    python benchmarks/harmony.py --model pop-small --data data/pop909 [--windows 300] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from clsm_cli.data.chords import chord_pitch_classes, strong_beat_chord_tones  # noqa: E402
from clsm_cli.data.corpus import read_test_songs  # noqa: E402
from clsm_cli.data.pop909 import (  # noqa: E402
    BEATS_FILE, CHORDS_FILE, beat_phase_ticks, pop909_songs_root, read_beats, read_segments, seconds_to_ticks)
from clsm_cli.data.shards import open_split  # noqa: E402
from clsm_cli.editing.generate import infill  # noqa: E402
from clsm_cli.editing.options import command_decoding  # noqa: E402
from clsm_cli.engine.load import load_engine  # noqa: E402
from clsm_cli.engine.protocol import TargetSpan  # noqa: E402
from clsm_cli.music.meter import Meter  # noqa: E402
from clsm_cli.music.midi_read import read_midi  # noqa: E402

SONG_TARGETS = ("9-10", "17-18", "25-26", "33-34")


def strong_beat_ticks(beats: np.ndarray, downbeats: np.ndarray) -> np.ndarray:
    """The ticks of beats 1 and 3 of the song's 4/4 bars, from its annotated beats and downbeats."""
    first_beats = np.flatnonzero(downbeats)
    strong = [beats[i] for i in first_beats]
    strong += [beats[i + 2] for i in first_beats if i + 2 < len(beats) and not downbeats[i + 1 : i + 3].any()]
    return np.sort(np.array(strong))


def annotated_chords(folder: Path, tempos, ticks_per_beat: int) -> list:
    """The song's annotated chords as (start tick, end tick, pitch classes) rows."""
    chords = []
    for start, end, label in read_segments(folder / CHORDS_FILE):
        classes = chord_pitch_classes(label)
        if classes is not None:
            ticks = seconds_to_ticks(np.array([start, end]), tempos, ticks_per_beat)
            chords.append((float(ticks[0]), float(ticks[1]), classes))
    return chords


def chord_tones_on_strong_beats(onsets: list[tuple[int, int]], strong: np.ndarray, chords: list,
                                tolerance: float) -> tuple[int, int]:
    """(chord tones, notes) among ``onsets`` ((tick, pitch)) starting within ``tolerance`` ticks of a
    strong beat where a chord is annotated."""
    tones = notes = 0
    for tick, pitch in onsets:
        if not len(strong) or np.min(np.abs(strong - tick)) > tolerance:
            continue
        chord = next((classes for start, end, classes in chords if start - tolerance <= tick < end - tolerance), None)
        if chord is None:
            continue
        notes += 1
        tones += pitch % 12 in chord
    return tones, notes


def song_harmony(root: Path, names: list[str], model: str | None, candidates: int, seed: int,
                 annotated_phase: bool = False, chords_option: str = "follow") -> dict:
    """The chord-tone shares of new and real notes over the songs' edits (see the module docstring)."""
    from typer.testing import CliRunner

    from clsm_cli.cli.app import app
    from clsm_cli.editing.prepare import open_song
    from clsm_cli.music.bars import BarRange

    base = pop909_songs_root(root)
    real, new, chosen, songs, edits = [0, 0], [0, 0], {}, 0, 0
    for name in names:
        midi_path = base / name / f"{name}.mid"
        if not midi_path.is_file():
            continue
        songs += 1
        original = read_midi(midi_path)
        tpb = original.ticks_per_beat
        melody = next(i for i, t in enumerate(original.tracks) if t.name.strip().upper() == "MELODY")
        times, downbeats = read_beats(base / name / BEATS_FILE)
        beats = seconds_to_ticks(times, original.tempos, tpb)
        strong, chords = strong_beat_ticks(beats, downbeats), annotated_chords(base / name, original.tempos, tpb)
        before = {(n.start_tick, n.pitch) for n in original.tracks[melody].notes}
        phase = ["--phase", str(beat_phase_ticks(beats, tpb))] if annotated_phase else []
        for target in SONG_TARGETS:
            with tempfile.TemporaryDirectory() as out:
                done = CliRunner().invoke(app, ["infill", str(midi_path), "--meter", "4/4", "--bars", target,
                                                "--track", "MELODY", "-n", str(candidates), "--seed", str(seed),
                                                "--out", out, "--no-preview", "--json", "--chords", chords_option, *phase]
                                          + (["--model", model] if model else []))
                if done.exit_code != 0:
                    continue
                edits += 1
                record = json.loads(done.stdout.strip().splitlines()[-1])
                chosen[record.get("model")] = chosen.get(record.get("model"), 0) + 1
                bars = open_song(midi_path, BarRange.parse(target), Meter(4, 4),  # as the edit counted them
                                 int(phase[1]) if phase else None).bars
                first, last = BarRange.parse(target).tick_span(bars)
                real_onsets = [(n.start_tick, n.pitch) for n in original.tracks[melody].notes if first <= n.start_tick < last]
                real = [a + b for a, b in zip(real, chord_tones_on_strong_beats(real_onsets, strong, chords, tpb / 16))]
                for path in sorted(Path(out).glob("*.mid")):
                    notes = read_midi(path).tracks[melody].notes
                    onsets = [(n.start_tick, n.pitch) for n in notes
                              if first <= n.start_tick < last and (n.start_tick, n.pitch) not in before]
                    new = [a + b for a, b in zip(new, chord_tones_on_strong_beats(onsets, strong, chords, tpb / 16))]
    return {"songs": songs, "edits": edits, "real": real, "new": new, "chosen": chosen}


def harmony(model: str, data: Path, windows: int, seed: int, first_bar: int, bars: int, candidates: int) -> dict:
    loaded = load_engine(model, "numpy", "cpu")
    decoding = command_decoding(loaded.config, None, None)
    split = open_split(data, "test", Meter(4, 4))
    steps_per_bar = int(loaded.config.steps_per_bar)
    target = TargetSpan((first_bar - 1) * steps_per_bar, bars * steps_per_bar)
    rng = np.random.default_rng(seed)
    picks = np.sort(rng.choice(len(split), size=min(windows, len(split)), replace=False))
    real = [0, 0]
    new = [0, 0]
    used = 0
    for index in picks:
        source, _, window_bar, _ = (int(v) for v in split.origins[int(index)])
        annotations = split.sources[source].get("annotations") or {}
        chords, bar_steps = annotations.get("chords"), annotations.get("bar_first_steps")
        if not chords or not bar_steps:
            continue
        used += 1
        song_step = bar_steps[window_bar - 1] + target.start
        tokens = np.asarray(split[int(index)])
        tones, notes = strong_beat_chord_tones(tokens[target.start : target.end], song_step, chords)
        real[0] += tones
        real[1] += notes
        for candidate in infill(loaded.engine, tokens, target, decoding, seed + int(index), range(1, candidates + 1)):
            tones, notes = strong_beat_chord_tones(candidate.tokens, song_step, chords)
            new[0] += tones
            new[1] += notes
    return {"model": loaded.name, "windows": used, "real": real, "new": new, "decoding": decoding}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="with --songs: force this model (default: the choice)")
    parser.add_argument("--data", type=Path, help="the model alone on a POP909 data build's test windows")
    parser.add_argument("--songs", type=Path, metavar="ROOT", help="the POP909 test songs under ROOT, edited by clsm infill")
    parser.add_argument("--split-of", type=Path, metavar="DATA", help="with --songs: the test songs of this data build")
    parser.add_argument("--chords", default="follow", choices=("follow", "ignore"),
                        help="with --songs: the edits' --chords (ignore: the model and ranking alone)")
    parser.add_argument("--annotated-phase", action="store_true",
                        help="with --songs: give each edit --phase at the annotated beats (harmony apart from phase detection)")
    parser.add_argument("--windows", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--first-bar", type=int, default=3, help="the target's first bar in the window (1-8)")
    parser.add_argument("--bars", type=int, default=2)
    parser.add_argument("--candidates", type=int, default=2)
    args = parser.parse_args(argv)
    if args.songs:
        songs_main(args)
    if args.data:
        data_main(args)


def _shares_line(result: dict) -> str:
    real_share = result["real"][0] / max(result["real"][1], 1)
    new_share = result["new"][0] / max(result["new"][1], 1)
    gap = new_share - real_share
    return (f"chord-tone share on beats 1 and 3: new notes {new_share:.3f} ({result['new'][0]:,} of {result['new'][1]:,}), "
            f"real bars {real_share:.3f} ({result['real'][0]:,} of {result['real'][1]:,}); difference {gap:+.3f} "
            f"({'within' if abs(gap) <= 0.10 else 'outside'} the goal of 0.10)")


def songs_main(args) -> None:
    if args.split_of:
        records = json.loads((args.split_of / "4-4" / "sources.json").read_text())
        names = sorted({str(r["song"]) for r in records if r.get("split") == "test"})
    else:
        names = sorted(read_test_songs([ROOT / "data" / "test_songs" / "pop909.txt"]))
    result = song_harmony(args.songs, names, args.model, args.candidates, args.seed, args.annotated_phase, args.chords)
    chosen = ", ".join(f"{name} {count}" for name, count in sorted(result["chosen"].items(), key=str))
    print(f"harmony on {result['songs']} POP909 test songs of {args.songs} ({result['edits']} edits: bars "
          f"{', '.join(SONG_TARGETS)}, {args.candidates} files each, seed {args.seed}; model: {chosen}"
          + f"; --chords {args.chords}" + ("; --phase at the annotated beats" if args.annotated_phase else "") + ")")
    print(_shares_line(result))
    if not result["new"][1] or not result["real"][1]:
        raise SystemExit(f"no notes measured ({result['edits']} edits ran): nothing to compare")


def data_main(args) -> None:
    if not args.model:
        raise SystemExit("--data needs --model")
    result = harmony(args.model, args.data, args.windows, args.seed, args.first_bar, args.bars, args.candidates)
    print(f"harmony of {result['model']} on {result['windows']} test windows of {args.data} (window bars "
          f"{args.first_bar}-{args.first_bar + args.bars - 1}, {args.candidates} infills each, temperature "
          f"{result['decoding'].temperature:g}, top-p {result['decoding'].top_p:g}, seed {args.seed})")
    print(_shares_line(result))


if __name__ == "__main__":
    main()
