"""Fuzz the MIDI reader, bars, melody code and surgical writer with thousands of damaged files, and
``clsm interpolate`` / ``clsm vary`` with damaged provenance records.

    python benchmarks/fuzz.py [--verbs read,interpolate,vary] [--count 5000] [--seed 0] [--write-every 5]

``read``: prints how many mutated files were read, how many were refused with a ClsmError (a clean
one-sentence error), and how many raised anything else (a traceback a user would see: the goal is 0),
with the first few of those.

``interpolate`` and ``vary``: an infill of ``examples/hoert-ihr-herrn.mid`` (the shipped model)
gives two outputs; each case sets one field of the first one's record to one wrong type or value
(every field of the record, a latent's parts and a note row's, each given null, a boolean, numbers,
text, lists, an object, or deleted; latents that are NaN, infinite, huge, short or not base64) and
runs ``clsm interpolate --start CASE --end OTHER`` or ``clsm vary SONG --around CASE`` (every other
vary case edits CASE itself, which must read as a plain MIDI file). Prints the exit codes per class
(field, wrong value) and in all; exit code 1 is a bug (the goal is 0).

Exits 1 if any verb found a traceback or an exit code 1. Runs against whatever ``clsm_cli`` the
repository root holds, so the same script measures an older commit checked out elsewhere.
"""

from __future__ import annotations

import argparse
import collections
import random
import shutil
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository root

from clsm_cli.errors import ClsmError  # noqa: E402
from synthetic_midi.mutations import (  # noqa: E402
    exercise,
    mutated,
    provenance_classes,
    read_record,
    seed_files,
    temporary_folder,
    with_damaged_record,
)

REPOSITORY = Path(__file__).resolve().parent.parent
SONG = REPOSITORY / "examples" / "hoert-ihr-herrn.mid"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--verbs", default="read", help="comma-separated: read, interpolate, vary")
    parser.add_argument("--count", type=int, default=5000, help="cases per verb")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--write-every", type=int, default=5, help="read: send every Nth file through the writer too")
    parser.add_argument("--show-classes", type=int, default=12, help="provenance: classes to list (exit 1 ones first)")
    options = parser.parse_args()
    failed = False
    for verb in options.verbs.split(","):
        if verb == "read":
            failed |= fuzz_reading(options)
        elif verb in ("interpolate", "vary"):
            failed |= fuzz_provenance(verb, options)
        else:
            parser.error(f"unknown verb {verb!r}")
    return 1 if failed else 0


def fuzz_reading(options) -> bool:
    seeds = seed_files()
    names = sorted(seeds)
    print(f"fuzz read: {options.count} mutations of {len(names)} seed files, seed {options.seed}, "
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
    return bool(outcomes["crashed"])


def fuzz_provenance(verb: str, options) -> bool:
    """``clsm interpolate``/``vary`` on outputs whose record has one field of a wrong type (see the docstring)."""
    from typer.testing import CliRunner

    from clsm_cli.cli.app import app

    runner = CliRunner()
    folder = temporary_folder()
    song = folder / SONG.name
    shutil.copyfile(SONG, song)

    def clsm(*args: str):
        return runner.invoke(app, [str(arg) for arg in args], env={"NO_COLOR": "1", "COLUMNS": "100"})

    base = clsm("infill", song, "--bars", "3-4", "-n", "2", "--seed", "1", "--out", folder / "base", "--no-preview")
    if base.exit_code != 0:
        raise SystemExit(f"the infill the fuzz starts from failed (exit {base.exit_code}):\n{base.output}")
    first, second = sorted((folder / "base").glob("*.mid"))
    clean = first.read_bytes()
    classes = provenance_classes(read_record(clean))
    print(f"fuzz {verb}: {options.count} cases over {len(classes)} classes (each field of the record of "
          f"{first.name} given each wrong type), round robin")
    outcomes = collections.Counter()
    per_class: dict[tuple[str, str], collections.Counter] = collections.defaultdict(collections.Counter)
    bugs = []
    started = time.perf_counter()
    for index in range(options.count):
        field, wrong = classes[index % len(classes)]
        case = folder / "case.mid"
        case.write_bytes(with_damaged_record(clean, field, wrong))
        out = folder / f"out-{index}"
        common = ("--out", out, "--no-preview", "--seed", "0")
        if verb == "interpolate":
            result = clsm("interpolate", "--start", case, "--end", second, "--steps", "1", *common)
        elif index % 2 == 0:
            result = clsm("vary", song, "--bars", "3-4", "--around", case, "-n", "1", *common)
        else:
            result = clsm("vary", case, "--bars", "3-4", "-n", "1", *common)
        shutil.rmtree(out, ignore_errors=True)
        code = result.exit_code
        outcomes[code] += 1
        per_class[field, wrong][code] += 1
        if code == 1 and len(bugs) < 3:
            error = result.exception
            detail = "".join(traceback.format_exception(error, limit=-3)) if error else result.output[-400:]
            bugs.append((field, wrong, detail))
    elapsed = time.perf_counter() - started
    names = {0: "ok", 1: "exit 1 (bug)", 2: "exit 2", 3: "exit 3", 4: "exit 4", 5: "exit 5"}
    print("in all: " + ", ".join(f"{names.get(code, f'exit {code}')} {count}" for code, count in sorted(outcomes.items())))
    print(f"{elapsed:.1f} s, {1000 * elapsed / max(1, options.count):.0f} ms per case "
          "(measured while other work shares the CPU)")
    bug_classes = sorted(key for key, counts in per_class.items() if counts[1])
    print(f"classes with exit 1: {len(bug_classes)} of {len(per_class)}")
    shown = bug_classes + [key for key in sorted(per_class) if key not in bug_classes]
    for field, wrong in shown[: options.show_classes]:
        counts = per_class[field, wrong]
        print(f"  {field:22s} {wrong:12s} " + ", ".join(f"{names.get(code, code)} {n}" for code, n in sorted(counts.items())))
    by_field: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for (field, _), counts in per_class.items():
        by_field[field].update(counts)
    print("per field: " + "; ".join(f"{field} " + "/".join(f"{names.get(code, code)}:{n}" for code, n in sorted(c.items()))
                                    for field, c in sorted(by_field.items())))
    for field, wrong, detail in bugs:
        print(f"\n--- {verb}, {field} = {wrong} ---\n{detail}")
    shutil.rmtree(folder, ignore_errors=True)
    return bool(outcomes[1])


if __name__ == "__main__":
    sys.exit(main())
