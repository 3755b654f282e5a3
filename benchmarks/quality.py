"""Melody quality of one CLSM under several decodings, side by side with the real bars.

Picks the CLI's default decoding by the shipped-model issue's measures: for each decoding
(temperature, or temperature:top-p), N test windows each get --candidates infills from independent
prior samples, and the script prints repeated-note share, distinct pitches, range, onsets per bar,
1-2 semitone step share, boundary jumps, well-formed share and pairwise edit-distance ratio, with
pass/fail against the real bars of the same windows; then reconstruction from the posterior mean vs
the prior mean, and (with --lm) the LM NLL of the infills beside Data / Copy / Random.
The same windows (--seed) are used for every decoding.

    python benchmarks/quality.py --model folk-small --data data/folk --lm folk-lm \\
        --decodings 0 1.0 0.8 1.0:0.9 --windows 500

Figures measured on a machine shared with other jobs are slower than on a quiet one (wall times).
"""

from __future__ import annotations

import argparse
import sys
import time

from rich.console import Console
from rich.table import Table


def parse_decoding(text: str) -> tuple[float, float]:
    """"0.8" -> (0.8, 1.0); "1.0:0.9" -> (1.0, 0.9)."""
    temperature, _, top_p = text.partition(":")
    return float(temperature), float(top_p) if top_p else 1.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="CLSM: installed name or model folder")
    parser.add_argument("--data", required=True, help="dataset folder (clsm data build)")
    parser.add_argument("--lm", default=None, help="evaluation LM (optional): adds NLL figures")
    parser.add_argument("--split", default="test")
    parser.add_argument("--meter", default="4/4", help="meter group of the data to read (the model's own)")
    parser.add_argument("--windows", type=int, default=500)
    parser.add_argument("--candidates", type=int, default=4, help="infills per window (one clsm infill call)")
    parser.add_argument("--decodings", nargs="+", default=["0", "1.0", "0.8", "1.0:0.9"],
                        help="temperature or temperature:top-p; 0 is argmax")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--batch-size", type=int, default=512)
    args = parser.parse_args(argv)

    import torch

    from clsm_cli.eval.report import quality_summary_lines
    from clsm_cli.data.shards import open_split
    from clsm_cli.device import choose_device
    from clsm_cli.eval import harness

    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(choose_device(args.device))
    console = Console()
    console.print(f"model {args.model}, data {args.data} ({args.split}, {args.meter}), {args.windows} windows, "
                  f"{args.candidates} infills each, seed {args.seed}, device {device}, "
                  f"torch threads {torch.get_num_threads()}")
    member = harness.load_eval_model(args.model, device)
    lm = harness.load_lm(args.lm, device)[0] if args.lm else None
    plan = harness.plan_evaluation(open_split(args.data, args.split, meter_group=args.meter), args.windows, args.seed)

    results = []
    for text in args.decodings:
        temperature, top_p = parse_decoding(text)
        started = time.perf_counter()
        results.append(harness.evaluate_quality(member, plan, lm=lm, candidates=args.candidates,
                                                temperature=temperature, top_p=top_p, batch_size=args.batch_size))
        console.print(f"decoding T={temperature:g} top-p={top_p:g}: {time.perf_counter() - started:.1f} s wall")

    table = Table(title=f"{member.name}: infills vs the real bars of {len(plan)} windows")
    table.add_column("measure")
    table.add_column("real / bound", justify="right")
    table.add_column("requirement")
    for result in results:
        table.add_column(f"T={result.temperature:g} p={result.top_p:g}", justify="right")
    for index, check in enumerate(results[0].checks):
        cells = []
        for result in results:
            measured = result.checks[index]
            mark = {True: "[green]ok[/green]", False: "[red]x[/red]", None: "[yellow]?[/yellow]"}[measured.passed]
            cells.append(f"{_number(measured.generated)} {mark}")
        table.add_row(check.name, _number(check.reference), check.requirement, *cells)
    console.print(table)
    for result in results:
        console.print(f"T={result.temperature:g} top-p={result.top_p:g}: "
                      f"reconstruction posterior mean {_number(result.posterior_accuracy)}, "
                      f"prior mean {_number(result.prior_accuracy)}; " + "; ".join(quality_summary_lines(result)),
                      soft_wrap=True, markup=False)
    return 0


def _number(value) -> str:
    return "–" if value is None else f"{value:.3f}"


if __name__ == "__main__":
    sys.exit(main())
