"""Steering, ranking and trust (issue 22): every figure of its "Done when", measured.

1. Per shipped model, on its meter's test split (``clsm data build --corpus music21 --out DIR``):
   each control requested against achieved (``--key auto``, ``--range``, ``--keep-rhythm``,
   ``--max-leap``, ``--density`` sparse and busy, 30% off the unconstrained median); under the
   defaults the in-key share of new notes, the edge leaps and the repeated-note share against the
   real bars; with ``--checks``, the 11 melody checks (``clsm evaluate --quality``, which draws
   through the same function).
2. On the dev MIDI files: silent, copied and duplicate "ok" candidates (CRÉ tunes in 4/4, 2/4,
   6/8 and POP909 songs with --meter 4/4, at bars 1-2, 3-4 and a middle range; ``vary --amount
   0.25`` on three examples, seeds 1-5), the top-voice rule on ``pop909_303 --track PIANO``, the
   repeated-note share of the CRÉ tunes, and the harmony fit on POP909.
3. The time of ``-n 8`` with no controls against ``-n 8 --key auto --max-leap 7 --range G3-E6``.

    python benchmarks/steering.py --data /tmp/folk --windows 200 --checks
    python benchmarks/steering.py --music21-test /tmp/folk-test.npz --windows 200   (test tunes only)

Candidates are drawn with the numpy engine (the editing default), seed 1 unless --seed.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = {"folk-small": "4/4", "folk-small-3-4": "3/4", "folk-small-6-8": "6/8", "folk-small-2-4": "2/4"}
CONTROL_RANGE = (62, 74)  # D4-D5: narrower than most tunes


def line_measures(tokens, before, after, key):
    """(in-key share, edge leaps, repeated pairs, pairs) of one target's new notes (window pitches)."""
    from clsm_cli.constants import MIN_PITCH, NUM_PITCHES

    pitches = [MIN_PITCH + int(t) for t in tokens if t < NUM_PITCHES]
    if not pitches:
        return None
    in_key = None if key is None else sum(key.contains(p) for p in pitches) / len(pitches)
    edges = [abs(pitches[0] - before)] if before is not None else []
    edges += [abs(pitches[-1] - after)] if after is not None else []
    repeats = sum(a == b for a, b in zip(pitches, pitches[1:]))
    return in_key, edges, repeats, len(pitches) - 1


def notes_per_bar(tokens, steps_per_bar):
    from clsm_cli.constants import NUM_PITCHES

    tokens = np.asarray(tokens)
    return [int(np.sum(tokens[start : start + steps_per_bar] < NUM_PITCHES)) for start in range(0, len(tokens), steps_per_bar)]


def leaps_ok(tokens, before, after, limit):
    from clsm_cli.constants import MIN_PITCH, NUM_PITCHES

    line = ([before] if before is not None else []) + [MIN_PITCH + int(t) for t in tokens if t < NUM_PITCHES]
    line += [after] if after is not None else []
    return all(abs(b - a) <= limit for a, b in zip(line, line[1:]))


def music21_test_windows(cache: Path) -> dict:
    """The test split's windows of music21's folk tunes per meter group ({"4/4": (n, K) uint8, ...}):
    the tunes whose identity hashes to "test" (``data/splits.split_of``, as ``clsm data build
    --corpus music21`` splits them), read through the same code, without building the other splits.
    Cached in ``cache`` (an .npz file)."""
    if cache.exists():
        with np.load(cache) as stored:
            return {name.replace("-", "/"): stored[name] for name in stored.files}
    from clsm_cli.data.corpus import scan_music21_corpus
    from clsm_cli.data.song_windows import process_item

    started = time.perf_counter()
    items = [item for item in scan_music21_corpus() if item.split == "test"]
    groups: dict[str, list] = {}
    for item in items:
        for track in process_item(item).tracks:
            groups.setdefault(track.meter_group, []).append(track.cut.windows)
    windows = {group: np.concatenate(parts) for group, parts in groups.items() if parts}
    np.savez(cache, **{group.replace("/", "-"): array for group, array in windows.items()})
    print(f"  read {len(items)} test tunes in {time.perf_counter() - started:.0f} s: "
          + ", ".join(f"{group} {len(array)} windows" for group, array in sorted(windows.items())))
    return windows


def model_section(name, meter, data, windows, seed, checks, only_checks=False):
    from clsm_cli.data.shards import open_split
    from clsm_cli.editing.controls import ControlRequest
    from clsm_cli.editing.step_rules import rhythm_classes
    from clsm_cli.editing.window_draw import draw_window
    from clsm_cli.engine.load import load_engine
    from clsm_cli.engine.protocol import TargetSpan
    from clsm_cli.eval.plan import plan_evaluation
    from clsm_cli.sampling import Decoding

    loaded = load_engine(name, "numpy", "cpu")
    config = loaded.config
    decoding = Decoding(float(config.decoding_temperature), float(config.decoding_top_p))
    source = data[meter] if isinstance(data, dict) else open_split(data, "test", meter_group=meter)
    plan = plan_evaluation(source, windows, seed)
    steps_per_bar = plan.window_steps // 8
    print(f"\n## {name} ({meter}), {len(plan)} test windows, {decoding.describe()}, pool 8, 4 candidates a window")
    if only_checks:
        _melody_checks(name, plan)
        return

    def run(request, label):
        started = time.perf_counter()
        rows = []
        for index in range(len(plan)):
            window = plan.windows[index]
            span = TargetSpan(int(plan.target_starts[index]), int(plan.target_lengths[index]))
            drawn = draw_window(loaded.engine, window, span, decoding, seed + index, 4, None, request,
                                steps_per_bar=steps_per_bar)
            rows.append((window, span, drawn))
        print(f"  [{label}: {time.perf_counter() - started:.0f} s]")
        return rows

    defaults = run(ControlRequest(), "defaults")
    new, real = _gather(defaults)
    medians = [statistics.median(notes_per_bar(c.tokens, steps_per_bar)) for _, _, d in defaults for c in d.candidates]
    median = statistics.median(medians)
    print("defaults            new notes   real bars   asked")
    print(f"  in-key share      {new[0]:9.3f}   {real[0]:9.3f}   >= real - 0.02: {'pass' if new[0] >= real[0] - 0.02 else 'FAIL'}")
    print(f"  edge leap (st)    {new[1]:9.2f}   {real[1]:9.2f}   <= real + 0.3: {'pass' if new[1] <= real[1] + 0.3 else 'FAIL'}")
    print(f"  repeated notes    {new[2]:9.3f}   {real[2]:9.3f}   <= real + 0.02: {'pass' if new[2] <= real[2] + 0.02 else 'FAIL'}")
    print(f"  notes per bar (median) {median:g}; candidates per window {np.mean([len(d.candidates) for *_, d in defaults]):.2f}")

    sparse_high = max(1, int(np.floor(median * 0.7)))
    busy_low = int(np.ceil(median * 1.3))
    settings = [
        ("--key auto", ControlRequest(key="auto"), lambda w, s, d, c: _in_key(c, d) == 1.0),
        ("--range D4-D5", ControlRequest(pitch_range=CONTROL_RANGE), lambda w, s, d, c: _inside(c)),
        ("--max-leap 5", ControlRequest(max_leap=5), lambda w, s, d, c: leaps_ok(c.tokens, *_edges(w, s), 5)),
        (f"--density 1-{sparse_high}", ControlRequest(density=(1.0, float(sparse_high))),
         lambda w, s, d, c: all(1 <= n <= sparse_high for n in notes_per_bar(c.tokens, steps_per_bar))),
        (f"--density {busy_low}-{busy_low + 3}", ControlRequest(density=(float(busy_low), float(busy_low + 3))),
         lambda w, s, d, c: all(busy_low <= n <= busy_low + 3 for n in notes_per_bar(c.tokens, steps_per_bar))),
    ]
    print("control                   candidates  achieved  asked")
    for label, request, met in settings:
        rows = run(request, label)
        results = [met(w, s, d, c) for w, s, d in rows for c in d.candidates]
        asked = "90%" if label.startswith("--density") else "100%"
        print(f"  {label:22s} {len(results):10d}  {np.mean(results):8.1%}  {asked}")
    rows = run(ControlRequest(keep_rhythm=True), "--keep-rhythm")
    kept, changed, count = 0, 0, 0
    for window, span, drawn in rows:
        original = window[span.start : span.end]
        onsets = rhythm_classes(original) == 0
        for candidate in drawn.candidates:
            count += 1
            kept += bool(np.array_equal(rhythm_classes(candidate.tokens), rhythm_classes(original)))
            changed += bool(np.mean(candidate.tokens[onsets] != original[onsets]) >= 0.5) if onsets.any() else 0
    print(f"  --keep-rhythm: rhythm kept {kept / max(count, 1):.1%} (asked 100%), half the onsets or more "
          f"re-pitched {changed / max(count, 1):.1%} (asked 95%) of {count} candidates")
    if checks:
        _melody_checks(name, plan)


def _edges(window, span):
    from clsm_cli.editing.window_draw import window_context

    before, after = window_context(window, span)
    return (before[-1].pitch if before else None), (after[0].pitch if after else None)


def _in_key(candidate, drawn):
    from clsm_cli.constants import MIN_PITCH, NUM_PITCHES

    pitches = [MIN_PITCH + int(t) for t in candidate.tokens if t < NUM_PITCHES]
    return sum(drawn.key.contains(p) for p in pitches) / len(pitches) if pitches and drawn.key else 1.0


def _inside(candidate):
    from clsm_cli.constants import MIN_PITCH, NUM_PITCHES

    return all(CONTROL_RANGE[0] <= MIN_PITCH + int(t) <= CONTROL_RANGE[1] for t in candidate.tokens if t < NUM_PITCHES)


def _gather(rows):
    """Mean in-key share, mean edge leap and repeated-note share of new notes and of the real bars."""
    sums = {"new": [[], [], 0, 0], "real": [[], [], 0, 0]}
    for window, span, drawn in rows:
        before, after = _edges(window, span)
        pairs = [("real", window[span.start : span.end])] + [("new", c.tokens) for c in drawn.candidates]
        for which, tokens in pairs:
            measured = line_measures(tokens, before, after, drawn.key)
            if measured is None:
                continue
            in_key, edges, repeats, count = measured
            if in_key is not None:
                sums[which][0].append(in_key)
            sums[which][1] += edges
            sums[which][2] += repeats
            sums[which][3] += count

    def figures(which):
        keys, edges, repeats, count = sums[which]
        return float(np.mean(keys)), float(np.mean(edges)), repeats / max(count, 1)

    return figures("new"), figures("real")


def _melody_checks(name, plan):
    from clsm_cli.eval import harness

    member = harness.load_eval_model(name, "cpu")
    started = time.perf_counter()
    result = harness.evaluate_quality(member, plan, candidates=4)
    passed = sum(check.passed is True for check in result.checks)
    print(f"  melody checks under the defaults: {passed} of {len(result.checks)} pass "
          f"({time.perf_counter() - started:.0f} s)")
    for check in result.checks:
        mark = "pass" if check.passed else ("n/a" if check.passed is None else "FAIL")
        generated = "-" if check.generated is None else f"{check.generated:.3f}"
        reference = "-" if check.reference is None else f"{check.reference:.3f}"
        print(f"    {mark:4s} {check.name}: {generated} vs {reference} ({check.requirement})")


def dev_midi_section(dev_midi, seed):
    from clsm_cli.editing.model_choice import choose_model, installed_editors
    from clsm_cli.editing.options import EditOptions, command_decoding
    from clsm_cli.editing.prepare import open_song, prepare_song
    from clsm_cli.editing.verbs import edit_file
    from clsm_cli.engine.load import load_engine
    from clsm_cli.music.bars import BarRange
    from clsm_cli.music.meter import Meter

    print(f"\n## dev MIDI files ({dev_midi})")
    engines = {}

    def engine_for(name):
        if name not in engines:
            engines[name] = load_engine(name, "numpy", "cpu")
        return engines[name]

    editors = installed_editors()
    counts = {"files": 0, "ok": 0, "outputs": 0, "silent": 0, "copied": 0, "duplicate": 0, "refused": 0}
    repeats_new, repeats_real = [0, 0], [0, 0]
    harmony = []

    def judge(result, prepared, bars):
        start, end = prepared.target_steps(bars)
        original = sorted((n.start_step, n.end_step, n.pitch) for n in prepared.line if start <= n.start_step < end)
        seen = []
        for output in result.outputs:
            notes = sorted((n.start_step, n.end_step, n.pitch) for n in output.new_notes if not n.tied_from_before)
            counts["outputs"] += 1
            counts["silent"] += not notes
            counts["copied"] += notes == original
            counts["duplicate"] += notes in seen
            seen.append(notes)
            if output.score is not None and output.score.harmony_fit is not None:
                harmony.append(output.score.harmony_fit)
        return original

    for path in sorted(Path(dev_midi).glob("*.mid")):
        pop = path.name.startswith("pop909")
        meter = Meter(4, 4) if pop else None
        opened = open_song(path, None, meter)
        num_bars = len(opened.bars)
        middle = max(5, num_bars // 2)
        for bars in (BarRange(1, 2), BarRange(3, 4), BarRange(middle, middle + 1)):
            if bars.last > num_bars:
                continue
            counts["files"] += 1
            options = EditOptions(verb="infill", bars=bars, seed=seed, num=4, out_dir=Path("/tmp/steering-bench"),
                                  force=True, meter=meter)
            try:
                name = choose_model(opened.bars, bars, path.name, editors).name
            except Exception as error:  # no model knows the meter (9/8, 12/8): exit 3, as asked
                counts["refused"] += 1
                print(f"  {path.name} {bars}: refused ({getattr(error, 'message', error)})")
                continue
            loaded = engine_for(name)
            result = edit_file(path, options, loaded, command_decoding(loaded.config, None, None))
            counts["ok"] += result.ok
            if not result.ok:
                print(f"  {path.name} {bars}: exit {result.exit_code}: {result.error.message}")
                continue
            prepared = prepare_song(open_song(path, bars, meter), bars, None)
            original = judge(result, prepared, bars)
            if not pop:
                for output in result.outputs:
                    pitches = [n.pitch for n in sorted(output.new_notes, key=lambda n: n.start_step)]
                    repeats_new[0] += sum(a == b for a, b in zip(pitches, pitches[1:]))
                    repeats_new[1] += max(len(pitches) - 1, 0)
                pitches = [p for _, _, p in original]
                repeats_real[0] += sum(a == b for a, b in zip(pitches, pitches[1:]))
                repeats_real[1] += max(len(pitches) - 1, 0)
    print(f"  infill: {counts['ok']} of {counts['files'] - counts['refused']} edits ok ({counts['refused']} refused: "
          f"meters no model knows); of {counts['outputs']} ok outputs: {counts['silent']} silent, "
          f"{counts['copied']} copies of the original, {counts['duplicate']} duplicates (asked 0)")
    print(f"  CRÉ repeated-note share: new {repeats_new[0] / max(repeats_new[1], 1):.3f}, "
          f"real {repeats_real[0] / max(repeats_real[1], 1):.3f} (asked <= real + 0.02)")
    if harmony:
        print(f"  POP909 harmony fit (mean, 0 is as consonant as the context): {np.mean(harmony):.3f}")
    _vary_copies(seed, engine_for)
    _top_voice(dev_midi, seed, engine_for)


def _vary_copies(seed, engine_for):
    from clsm_cli.editing.options import EditOptions, command_decoding
    from clsm_cli.editing.prepare import prepare_song
    from clsm_cli.editing.verbs import edit_file
    from clsm_cli.music.bars import BarRange

    examples = ROOT / "examples"
    outputs, copies, failed = 0, 0, 0
    for stem in ("hoert-ihr-herrn", "es-wollt-ein-jaeger-jagen", "rot-sind-alle-meine-kleider"):
        path = examples / f"{stem}.mid"
        for bars in (BarRange(3, 4), BarRange(5, 6)):
            prepared = prepare_song(path, bars, None)
            start, end = prepared.target_steps(bars)
            original = sorted((n.start_step, n.end_step, n.pitch) for n in prepared.line if start <= n.start_step < end)
            for vary_seed in range(1, 6):
                loaded = engine_for("folk-small")
                options = EditOptions(verb="vary", bars=bars, seed=vary_seed, num=4, amount=0.25,
                                      out_dir=Path("/tmp/steering-bench"), force=True)
                result = edit_file(path, options, loaded, command_decoding(loaded.config, None, None))
                failed += not result.ok
                seen = [original]
                for output in result.outputs:
                    notes = sorted((n.start_step, n.end_step, n.pitch) for n in output.new_notes if not n.tied_from_before)
                    outputs += 1
                    copies += notes in seen
                    seen.append(notes)
    print(f"  vary --amount 0.25 (3 examples, bars 3-4 and 5-6, seeds 1-5): {failed} files failed; "
          f"{copies} of {outputs} ok outputs are the original or a duplicate (asked 0)")


def _top_voice(dev_midi, seed, engine_for):
    from clsm_cli.editing.options import EditOptions, command_decoding
    from clsm_cli.editing.prepare import open_song, prepare_song
    from clsm_cli.editing.verbs import edit_file
    from clsm_cli.music.bars import BarRange
    from clsm_cli.music.meter import Meter

    path = Path(dev_midi) / "pop909_303.mid"
    under, doubled, new, outputs = 0, 0, 0, 0
    for first in range(5, 60, 6):
        bars = BarRange(first, first + 1)
        options = EditOptions(verb="infill", bars=bars, seed=seed, num=4, out_dir=Path("/tmp/steering-bench"),
                              force=True, track="PIANO", meter=Meter(4, 4))
        loaded = engine_for("folk-small")
        result = edit_file(path, options, loaded, command_decoding(loaded.config, None, None))
        if not result.ok:
            continue
        prepared = prepare_song(open_song(path, bars, Meter(4, 4)), bars, "PIANO")
        start, end = prepared.target_steps(bars)
        kept = {}
        for note in prepared.accompaniment:
            if start <= note.start_step < end:
                kept.setdefault(note.start_step, []).append(note.pitch)
        for output in result.outputs:
            outputs += 1
            for note in output.new_notes:
                if note.tied_from_before:
                    continue
                new += 1
                under += any(note.pitch < pitch for pitch in kept.get(note.start_step, []))
                doubled += note.pitch in kept.get(note.start_step, [])
    print(f"  pop909_303 --track PIANO (10 two-bar targets, {outputs} outputs, {new} new notes): {under} under a kept "
          f"note starting with it, {doubled} doubling one (asked 0 and 0)")


def timing_section(seed, repeats):
    from clsm_cli.editing.controls import ControlRequest, parse_range
    from clsm_cli.editing.options import EditOptions, command_decoding
    from clsm_cli.editing.verbs import edit_file
    from clsm_cli.engine.load import load_engine
    from clsm_cli.music.bars import BarRange

    loaded = load_engine("folk-small", "numpy", "cpu")
    path = ROOT / "examples" / "hoert-ihr-herrn.mid"
    settings = (("plain", ControlRequest()),
                ("--key auto --max-leap 7 --range G3-E6",
                 ControlRequest(key="auto", max_leap=7, pitch_range=parse_range("G3-E6"))))
    walls = {label: [] for label, _ in settings}
    redraws = {label: 0 for label, _ in settings}
    for repeat in range(repeats):  # alternated, so a busy moment of a shared machine hits both
        for label, request in settings:  # a seed per repeat: redraws (rare, costly) come as often as they do
            options = EditOptions(verb="infill", bars=BarRange(3, 4), seed=seed + repeat, num=8, controls=request,
                                  out_dir=Path("/tmp/steering-bench"), force=True)
            started = time.perf_counter()
            result = edit_file(path, options, loaded, command_decoding(loaded.config, None, None))
            walls[label].append(time.perf_counter() - started)
            assert result.ok, result.error
            redraws[label] += len(result.redraws)
    times = {label: statistics.mean(values) for label, values in walls.items()}
    for label, value in times.items():
        print(f"  -n 8 {label}: {value:.3f} s (mean of {repeats} seeds from {seed}; {redraws[label]} redraws in all)")
    ratio = times["--key auto --max-leap 7 --range G3-E6"] / times["plain"]
    print(f"  ratio {ratio:.2f} (asked <= 1.2)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", help="a folder from clsm data build --corpus music21 (every meter)")
    parser.add_argument("--music21-test", metavar="CACHE.npz",
                        help="instead of --data: read only the test tunes of music21's corpus (cached here)")
    parser.add_argument("--models", nargs="*", default=list(SHIPPED), help="shipped models to measure")
    parser.add_argument("--windows", type=int, default=200)
    parser.add_argument("--checks", action="store_true", help="also the 11 melody checks (needs torch)")
    parser.add_argument("--only-checks", action="store_true", help="the 11 melody checks and nothing else per model")
    parser.add_argument("--dev-midi", default=str(ROOT / "tests" / "fixtures" / "dev_midi"))
    parser.add_argument("--skip-dev-midi", action="store_true")
    parser.add_argument("--timing-repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    print(f"steering benchmark: data {args.data}, models {', '.join(args.models)}, {args.windows} windows, "
          f"seed {args.seed}, dev MIDI {args.dev_midi}")
    data = music21_test_windows(Path(args.music21_test)) if args.music21_test else args.data
    if data:
        for name in args.models:
            model_section(name, SHIPPED[name], data, args.windows, args.seed, args.checks, args.only_checks)
    if args.only_checks:
        return 0
    if not args.skip_dev_midi:
        dev_midi_section(args.dev_midi, args.seed)
    print("\n## timing (numpy engine, examples/hoert-ihr-herrn.mid bars 3-4, model loaded once)")
    timing_section(args.seed, args.timing_repeats)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
