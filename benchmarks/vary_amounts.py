"""How far ``clsm vary`` moves from the bars it varies, per amount, and how smooth ``clsm interpolate`` is.

For each 4/4 example tune, each seed and each amount, ``vary -n N`` of the chosen bars; the figure
is the pitch edit distance (``editing/distances.py``) of each variation from the original bars,
divided by the original's number of notes, averaged over variations, tunes and seeds. Then, per
tune and seed, an interpolation from infill candidate 1 to 2 (``--steps J``): the mean distance to
the start at every step, the largest fall of it from one step to the next, and the largest
neighbour distance against the distance between the ends.

    python benchmarks/vary_amounts.py                       # shipped model, bars 3-4, -n 8, seeds 1-3
    python benchmarks/vary_amounts.py --temperature 0 --amounts 0 0.25 0.5 1
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

from clsm_cli.editing.distances import pitch_edit_distance, series_distances
from clsm_cli.editing.options import EditOptions, command_decoding
from clsm_cli.editing.splice import notes_for_writer
from clsm_cli.editing.verbs import edit_file, prepare_for_model
from clsm_cli.engine.load import load_engine
from clsm_cli.music.bars import BarRange

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def four_four_examples() -> list[Path]:
    from clsm_cli.editing.prepare import open_song

    tunes = []
    for path in sorted(EXAMPLES.glob("*.mid")):
        bars = open_song(path, None).bars
        if all((bar.numerator, bar.denominator) == (4, 4) for bar in bars):
            tunes.append(path)
    return tunes


def run(verb: str, song: Path, out: Path, edit_model, bars: BarRange, seed: int, temperature, **values):
    options = EditOptions(verb=verb, bars=bars, seed=seed, out_dir=out, temperature=temperature, force=True, **values)
    result = edit_file(song, options, edit_model, command_decoding(edit_model.config, temperature, None))
    if result.error is not None:
        raise SystemExit(f"{song.name}: {result.error.message}")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="installed name or folder (default: the shipped model)")
    parser.add_argument("--bars", default="3-4")
    parser.add_argument("-n", "--num", type=int, default=8)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--amounts", type=float, nargs="+", default=[0.0, 0.25, 0.5, 1.0])
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--temperature", type=float, default=None, help="default: the model's decoding")
    args = parser.parse_args(argv)
    edit_model = load_engine(args.model, "numpy", "cpu")
    bars = BarRange.parse(args.bars)
    tunes = four_four_examples()
    print(f"model {edit_model.name}, {', '.join(t.name for t in tunes)}, {bars}, -n {args.num}, seeds {args.seeds}")
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder)
        print("amount  distance per note from the original bars")
        for amount in args.amounts:
            per_note = []
            for song in tunes:
                prepared = prepare_for_model(song, EditOptions(verb="vary", bars=bars, seed=0), edit_model)
                original = notes_for_writer(prepared.line, *prepared.target_steps(bars))
                for seed in args.seeds:
                    result = run("vary", song, out, edit_model, bars, seed, args.temperature, amount=amount,
                                 num=args.num)
                    per_note += [pitch_edit_distance(original, output.new_notes) / max(1, len(original))
                                 for output in result.outputs]
            print(f"{amount:6g}  {np.mean(per_note):.2f}")

        print(f"\ninterpolation, {args.steps} steps from infill candidate 1 to 2")
        to_start, worst_fall, worst_ratio = [], 0, 0.0
        for song in tunes:
            for seed in args.seeds:
                result = run("interpolate", song, out, edit_model, bars, seed, args.temperature, steps=args.steps)
                distances = series_distances([output.new_notes for output in result.outputs])
                ends = distances["distance_to_start"][-1]
                to_start.append(distances["distance_to_start"])
                worst_ratio = max(worst_ratio, max(distances["neighbour_distances"]) / max(1, ends))
                print(f"  {song.stem} s{seed}: to start {distances['distance_to_start']}, "
                      f"neighbours {distances['neighbour_distances']}")
        mean_to_start = np.mean(to_start, axis=0)
        worst_fall = float(max(0.0, np.max(mean_to_start[:-1] - mean_to_start[1:])))
        print("mean distance to the start per step:", " ".join(f"{d:.2f}" for d in mean_to_start))
        print(f"largest fall of the mean from one step to the next: {worst_fall:.2f} notes")
        print(f"largest neighbour distance / distance between the ends: {worst_ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
