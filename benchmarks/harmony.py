"""The harmony figure of issue 24: chord-tone share of new notes on beats 1 and 3 against the real bars'.

On ``--windows`` test windows of a POP909 data set (``clsm data build --corpus pop909``, whose
``sources.json`` keeps each song's chords on the song step grid), a ``--bars``-bar target (bars 3-4
of the window by default) is filled in ``--candidates`` times by the model, with its recommended
decoding; the notes starting on beats 1 and 3 of the target, real and new, are checked against the
chord annotated there. Printed: both shares, their difference (the issue's goal: within 0.10), and
the counts. The card writer (``scripts/write_card.py --harmony LOG``) quotes the printed line.

Usage: ``python benchmarks/harmony.py --model pop-small --data data/pop909 [--windows 300] [--seed 0]``
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from clsm_cli.data.chords import strong_beat_chord_tones  # noqa: E402
from clsm_cli.data.shards import open_split  # noqa: E402
from clsm_cli.editing.generate import infill  # noqa: E402
from clsm_cli.editing.options import command_decoding  # noqa: E402
from clsm_cli.engine.load import load_engine  # noqa: E402
from clsm_cli.engine.protocol import TargetSpan  # noqa: E402
from clsm_cli.music.meter import Meter  # noqa: E402


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
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", required=True, type=Path)
    parser.add_argument("--windows", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--first-bar", type=int, default=3, help="the target's first bar in the window (1-8)")
    parser.add_argument("--bars", type=int, default=2)
    parser.add_argument("--candidates", type=int, default=2)
    args = parser.parse_args(argv)
    result = harmony(args.model, args.data, args.windows, args.seed, args.first_bar, args.bars, args.candidates)
    real_share = result["real"][0] / max(result["real"][1], 1)
    new_share = result["new"][0] / max(result["new"][1], 1)
    gap = new_share - real_share
    print(f"harmony of {result['model']} on {result['windows']} test windows of {args.data} (window bars "
          f"{args.first_bar}-{args.first_bar + args.bars - 1}, {args.candidates} infills each, temperature "
          f"{result['decoding'].temperature:g}, top-p {result['decoding'].top_p:g}, seed {args.seed})")
    print(f"chord-tone share on beats 1 and 3: new notes {new_share:.3f} ({result['new'][0]:,} of {result['new'][1]:,}), "
          f"real bars {real_share:.3f} ({result['real'][0]:,} of {result['real'][1]:,}); difference {gap:+.3f} "
          f"({'within' if abs(gap) <= 0.10 else 'outside'} the goal of 0.10)")


if __name__ == "__main__":
    main()
