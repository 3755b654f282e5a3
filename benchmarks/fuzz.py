"""Fuzz the MIDI reader, bars, melody code and surgical writer with thousands of damaged files.

    python benchmarks/fuzz.py [--count 5000] [--seed 0] [--write-every 5]

Prints its parameters, then how many mutated files were read, how many were refused with a
ClsmError (a clean one-sentence error), and how many raised anything else (a traceback a user
would see: the goal is 0), with the first few of those. Exits 1 if there was any.
"""

from __future__ import annotations

import argparse
import collections
import random
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository root

from clsm_cli.errors import ClsmError  # noqa: E402
from synthetic_midi.mutations import exercise, mutated, seed_files, temporary_folder  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=5000, help="mutated files to try")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--write-every", type=int, default=5, help="send every Nth file through the writer too")
    options = parser.parse_args()

    seeds = seed_files()
    names = sorted(seeds)
    print(f"fuzz: {options.count} mutations of {len(names)} seed files, seed {options.seed}, "
          f"writer on every {options.write_every}th")
    rng = random.Random(options.seed)
    folder = temporary_folder()
    outcomes = collections.Counter()
    refusals = collections.Counter()
    crashes = []
    started = time.perf_counter()
    for index in range(options.count):
        name = names[index % len(names)]
        data = mutated(seeds[name], rng)
        try:
            exercise(data, folder if index % options.write_every == 0 else None)
            outcomes["read"] += 1
        except ClsmError as error:
            outcomes["refused"] += 1
            refusals[error.message.split(":")[0].replace("fuzz.mid ", "")[:60]] += 1
        except Exception:  # noqa: BLE001 - exactly what this script counts
            outcomes["crashed"] += 1
            if len(crashes) < 5:
                crashes.append((index, name, data, traceback.format_exc(limit=4)))
    elapsed = time.perf_counter() - started

    print(f"read {outcomes['read']}, refused with a ClsmError {outcomes['refused']}, "
          f"other exceptions (tracebacks) {outcomes['crashed']}")
    print(f"{elapsed:.1f} s, {1000 * elapsed / max(1, options.count):.2f} ms per file "
          "(measured while other work shares the CPU)")
    print("most common refusals:")
    for reason, count in refusals.most_common(8):
        print(f"  {count:5d}  {reason}")
    for index, name, data, text in crashes:
        print(f"\n--- mutation {index} of {name} ({len(data)} bytes) ---\n{text}")
    return 1 if outcomes["crashed"] else 0


if __name__ == "__main__":
    sys.exit(main())
