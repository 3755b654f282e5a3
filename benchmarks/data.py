"""How fast ``clsm data build`` reads an LMD-like corpus: files per second and windows per second.

Generates (seeded) a few hundred multi-track MIDI files shaped like LMD-matched songs — 8 to 16
tracks with drums, bass, chords, pads, arpeggios, one or two sung lines, expression controllers,
3 to 5 minutes, 30 to 100 KB each, stored as ``TR…/<hash>.mid`` with 1 to 3 versions per song,
about one song in six in 3/4 — into a temporary folder, builds a dataset from it and prints::

    files/s, windows/s (original key and written), MB/s, CPU per file, and the build's skip reasons

``--compare-full-reader`` also times, in this process and in the same run, the path through the
editing commands' full reader (``midi_read.read_midi``: every event as a mido message) against the
data build's reader (``midi_read.read_note_table``), file by file and interleaved, and prints the
ratio; both must give the same windows (checked). CPU time per file is what a core spends on one
file; it depends much less on the machine's load than files/s does.

Usage: ``python benchmarks/data.py [--files 300] [--workers N] [--seed 0] [--keep DIR | --corpus DIR]
[--compare-full-reader]``. ``--keep DIR`` keeps the generated corpus; ``--corpus DIR`` builds from
a corpus kept before instead of generating one. The issue's target is >= 50 files/s on 2 cores.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import multiprocessing
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository root, for synthetic_midi/

from clsm_cli.data.corpus import available_cores, build_dataset  # noqa: E402
from synthetic_midi.lmd_like import lmd_like_song  # noqa: E402


def _write_song(job: tuple[Path, str]) -> int:
    folder, seed = job
    data = io.BytesIO()
    lmd_like_song(random.Random(seed)).save(file=data)
    data = data.getvalue()
    (folder / (hashlib.md5(data).hexdigest() + ".mid")).write_bytes(data)
    return len(data)


def write_corpus(root: Path, files: int, seed: int, workers: int) -> int:
    """LMD-matched layout: root/A/B/C/TR<16>/<md5>.mid, 1..3 versions per song. Returns bytes written."""
    rng = random.Random(seed)
    jobs: list[tuple[Path, str]] = []
    while len(jobs) < files:
        track_id = "TR" + "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") for _ in range(16))
        folder = root / track_id[2] / track_id[3] / track_id[4] / track_id
        folder.mkdir(parents=True, exist_ok=True)
        for _ in range(min(rng.choice((1, 1, 2, 3)), files - len(jobs))):
            jobs.append((folder, f"{seed}-{len(jobs)}"))
    with multiprocessing.Pool(workers) as pool:
        return sum(pool.map(_write_song, jobs, chunksize=4))


def _cpu_seconds_per_file(paths: list[Path]) -> float:
    """CPU time of reading, filtering and cutting one file in this process (no pool, no writing)."""
    from clsm_cli.data.song_windows import WorkItem, process_item

    started = time.process_time()
    for path in paths:
        process_item(WorkItem(label=path.name, identity=path.stem, split="train-1", path=str(path)))
    return (time.process_time() - started) / len(paths)


def _full_reader_result(path: Path):
    """What process_item does, but reading with the editing commands' reader (read_midi)."""
    from clsm_cli.data.song_notes import midi_song_notes
    from clsm_cli.data.song_windows import result_of_reading
    from clsm_cli.music.midi_read import read_midi

    return result_of_reading(lambda: midi_song_notes(read_midi(path)))


def _fingerprint(result) -> tuple:
    return (result.status, result.detail, [(t.number, t.meter_group, t.cut.windows.tobytes(), t.cut.shifts) for t in result.tracks])


def compare_readers(paths: list[Path], rounds: int = 3) -> tuple[float, float]:
    """CPU seconds per file through the full reader and through the data build's reader, measured
    alternately file by file (best of ``rounds``), after checking that both give the same windows."""
    from clsm_cli.data.song_windows import WorkItem, process_item

    def fast(path: Path):
        return process_item(WorkItem(label=path.name, identity=path.stem, split="train-1", path=str(path)))

    for path in paths:
        if _fingerprint(fast(path)) != _fingerprint(_full_reader_result(path)):
            raise AssertionError(f"the two readers disagree on {path}")
    best = {fast: float("inf"), _full_reader_result: float("inf")}
    for _ in range(rounds):
        spent = dict.fromkeys(best, 0.0)
        for path in paths:
            for reader in best:
                started = time.process_time()
                reader(path)
                spent[reader] += time.process_time() - started
        best = {reader: min(best[reader], spent[reader] / len(paths)) for reader in best}
    return best[_full_reader_result], best[fast]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=300)
    parser.add_argument("--workers", type=int, default=None, help="default: every available core")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, default=None, help="keep the generated corpus here")
    parser.add_argument("--corpus", type=Path, default=None, help="build from this corpus instead of generating one")
    parser.add_argument("--compare-full-reader", action="store_true",
                        help="also time the editing commands' full reader on the same files (one process)")
    args = parser.parse_args(argv)
    workers = args.workers or available_cores()
    if args.keep and args.corpus:
        parser.error("give --keep (generate and keep) or --corpus (reuse), not both")

    temporary = Path(tempfile.mkdtemp(prefix="clsm-bench-data-"))
    corpus = args.corpus or args.keep or temporary / "lmd"
    try:
        started = time.perf_counter()
        if args.corpus:
            size = sum(p.stat().st_size for p in corpus.rglob("*.mid"))
        else:
            size = write_corpus(corpus, args.files, args.seed, workers)
        sizes = sorted(p.stat().st_size for p in corpus.rglob("*.mid"))
        how = "read from " + str(corpus) if args.corpus else f"generated in {time.perf_counter() - started:.1f} s"
        print(f"corpus: {len(sizes)} files, {size / 2**20:.1f} MB, {sizes[0] // 1024}-{sizes[-1] // 1024} KB each "
              f"(median {sizes[len(sizes) // 2] // 1024} KB), {how}")
        print(f"build: {workers} workers on {available_cores()} available cores (machine load matters)")
        started, parent_cpu = time.perf_counter(), time.process_time()
        manifest = build_dataset(temporary / "dataset", [corpus], workers=workers)
        seconds, parent_cpu = time.perf_counter() - started, time.process_time() - parent_cpu
        sample = sorted(corpus.rglob("*.mid"))[:20]
        cpu_per_file = _cpu_seconds_per_file(sample)
        readers = compare_readers(sample) if args.compare_full_reader else None
    finally:
        shutil.rmtree(temporary, ignore_errors=True)

    files = manifest["files"]["total"]
    splits = [record for group in manifest["meter_groups"].values() for record in group["splits"].values()]
    original = sum(record["windows_original_key"] for record in splits)
    written = sum(record["windows"] for record in splits)
    print(f"time          {seconds:.1f} s")
    print(f"files/s       {files / seconds:.1f}")
    print(f"windows/s     {original / seconds:,.0f} original key, {written / seconds:,.0f} written (with transpositions)")
    print(f"MB/s          {size / 2**20 / seconds:.2f}")
    print(f"CPU per file  {cpu_per_file * 1000:.0f} ms in one process (load-independent): "
          f"{1 / cpu_per_file:.1f} files/s per core, {workers / cpu_per_file:.1f} files/s on {workers} idle cores")
    if workers > 1:
        all_in = cpu_per_file + parent_cpu / files
        print(f"parent CPU    {parent_cpu / files * 1000:.1f} ms per file (transpositions, shards, manifest); "
              f"with the workers' {all_in * 1000:.0f} ms per file: {workers / all_in:.1f} files/s on {workers} idle cores")
    else:
        print(f"build CPU     {parent_cpu / files * 1000:.1f} ms per file for the whole build in this process: "
              f"{files / parent_cpu:.1f} files/s per idle core")
    if readers:
        full, fast = readers
        print(f"readers       full reader (read_midi) {full * 1000:.0f} ms per file, data build reader "
              f"(read_note_table) {fast * 1000:.0f} ms per file: {full / fast:.1f}x, same windows")
    print(f"kept          {manifest['files']['kept']} of {files} files; skipped: "
          + ", ".join(f"{reason} {entry['count']}" for reason, entry in sorted(manifest["files"]["skipped_by_reason"].items())))
    print(f"tracks        {manifest['tracks']}")
    print("meter groups  " + ", ".join(f"{group}: {record['songs']} songs, {record['windows']:,} windows"
                                       for group, record in manifest["meter_groups"].items()))


if __name__ == "__main__":
    sys.exit(main())
