"""How fast ``clsm data build --corpus pop909 DIR`` reads POP909 (issue 24: at least 30 songs/s on 2 cores).

Builds the 4/4 data set of a POP909 checkout (``../shared/data/pop909.tar.xz`` extracted to /tmp)
into a temporary folder with ``--workers`` processes and prints songs/s, windows, the build's
report (kept, dropped and why), and the CPU time one song costs in one process (reading the MIDI
file and its annotations, placing the notes on the beats, cutting windows): that figure depends
much less on the machine's load than songs/s does, and 2 / (CPU per song) is what 2 idle cores give.

Usage: ``python benchmarks/pop909_data.py /tmp/pop909/pop909 [--workers 2] [--sample 100]``
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from clsm_cli.data import pop909  # noqa: E402
from clsm_cli.data.corpus import build_dataset  # noqa: E402
from clsm_cli.data.song_windows import WorkItem, process_item  # noqa: E402


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root", type=Path, help="a POP909-Dataset checkout (or the folder holding POP909/)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--sample", type=int, default=100, help="songs timed in one process for CPU per song")
    args = parser.parse_args(argv)
    temporary = Path(tempfile.mkdtemp(prefix="clsm-bench-pop909-"))
    try:
        started = time.perf_counter()
        manifest = build_dataset(temporary / "pop909", corpora=[("pop909", args.root)], meters="4/4",
                                 workers=args.workers)
        seconds = time.perf_counter() - started
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
    folders = pop909.song_folders(args.root)[: args.sample]
    cpu = time.process_time()
    for folder in folders:
        process_item(WorkItem(folder.name, folder.name, "train-1", path=str(folder / f"{folder.name}.mid"), reader="pop909"))
    cpu_per_song = (time.process_time() - cpu) / len(folders)
    files = manifest["files"]
    group = manifest["meter_groups"].get("4/4", {})
    print(f"POP909 build: {files['total']} songs in {seconds:.1f} s with {args.workers} workers = "
          f"{files['total'] / seconds:.1f} songs/s (goal 30 on 2 cores; the machine's load matters)")
    print(f"CPU per song in one process: {1000 * cpu_per_song:.1f} ms ({len(folders)} songs) -> "
          f"{2 / cpu_per_song:.0f} songs/s on 2 idle cores")
    print(f"kept {files['kept']}, windows {group.get('windows', 0):,} (with transpositions); dropped: "
          + ", ".join(f"{entry['count']} {reason}" for reason, entry in sorted(files["skipped_by_reason"].items())))


if __name__ == "__main__":
    main()
