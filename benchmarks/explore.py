"""``clsm explore`` latency: from a keypress to the first audio buffer handed to the audio device.

The real app (textual, headless) on the real session: the shipped model on
``examples/hoert-ihr-herrn.mid --bars 3-4`` (a 2-bar target), a null audio device that notes when
it is handed its first block. Each row is timed from just before the key is sent.

Candidates are infill's ranked pool: the session draws the whole pool (8 by default) when it opens,
when the ``s`` panel changes the controls, and on ``r`` (the next 4 draw indices, the pool ranked
again), so no keypress that moves ever waits for a candidate to be drawn. The rows:

* ``grid cell`` (the cold path, bounded): the grid opens and every →/↓ moves to a cell not yet
  decoded and plays it: decode under the controls' step masks, splice, the passage with a bar
  either side and the other tracks, the first 1024-sample block rendered, until the device has it;
* ``candidate``: → onto the next pool member (drawn with the pool before the key) and play it;
  when the list ends, ``r`` draws more first (new members mostly rank above the last one, so
  walking to the end of the list presses ``r`` often: the pool grows to 72 for 12 moves);
* ``r``: the keypress until the app's handler has drawn 4 more members, ranked the pool and
  updated the list (no audio is handed over: the selection keeps playing), bounded as a keypress
  too. Like the audio rows it stops where the key's work is done: textual repaints the screen
  after every key (tens of ms in the headless pilot), in no row;
* ``pool drawn``: a fresh pool of 8 on the loaded model (what opening and the ``s`` panel cost),
  timed on the session, reported beside the bound (it happens before any → can be pressed).

The issue's bound: at most 150 ms on 2 cores, for every keypress row.

Usage: ``python benchmarks/explore.py [--soundfont FILE.sf2|builtin] [--moves 12] [--seed 7]``
(default renderer: what clsm would choose here; ``builtin`` forces the built-in synth).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

# One BLAS thread, set before numpy loads, as the clsm command sets it (clsm_cli/cli/__init__.py).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from clsm_cli.editing.options import EditOptions  # noqa: E402
from clsm_cli.explore.app import ExploreApp  # noqa: E402
from clsm_cli.explore.playback import NullDevice, Player  # noqa: E402
from clsm_cli.explore.session import GRID_SIZE, ExploreSession, quiet_models  # noqa: E402
from clsm_cli.music.audio import choose_renderer  # noqa: E402
from clsm_cli.music.bars import BarRange  # noqa: E402
from clsm_cli.music.synth import BuiltinSynth  # noqa: E402

BOUND_MS = 150.0
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "hoert-ihr-herrn.mid"


def snake_keys() -> list[str]:
    """Keys that walk the grid row by row, left to right then back, from its top-left corner."""
    keys = []
    for row in range(GRID_SIZE):
        keys += ["right" if row % 2 == 0 else "left"] * (GRID_SIZE - 1)
        if row < GRID_SIZE - 1:
            keys.append("down")
    return keys


def measure(soundfont: str | None, moves: int, seed: int, out: Path) -> dict[str, list[float]]:
    started = time.perf_counter()
    options = EditOptions(verb="explore", bars=BarRange(3, 4), seed=seed, out_dir=out)
    session = ExploreSession(EXAMPLE, options, quiet_models(None))
    renderer = BuiltinSynth() if soundfont == "builtin" else choose_renderer(soundfont).renderer
    print(f"model {session.model.name}, {session.options.bars} of {EXAMPLE.name}, renderer {renderer.name}; "
          f"session ready (model loaded, pool of {session.pool} drawn) in {(time.perf_counter() - started) * 1000:.0f} ms")
    timings: dict[str, list[float]] = {"grid cell": [], "candidate": [], "r": [], "pool drawn": []}
    first_pool = session.pool
    for _ in range(3):
        before = time.perf_counter()
        session.with_controls(session.controls)  # a fresh pool on the loaded model: no draw is reused
        timings["pool drawn"].append((time.perf_counter() - before) * 1000)
    device = NullDevice()
    app = ExploreApp(session, Player(device, renderer))
    drawn_at: list[float] = []
    draw_more = app._draw_more

    def noted_draw_more() -> None:  # r's handler: the pool drawn, ranked, the list updated
        draw_more()
        drawn_at.append(time.perf_counter())

    app._draw_more = noted_draw_more

    async def timed(pilot, key: str, kind: str) -> None:
        device.first_block_at = None
        before = time.perf_counter()
        await pilot.press(key)
        await pilot.pause()
        if kind == "r":
            timings[kind].append((drawn_at[-1] - before) * 1000)
            return
        if device.first_block_at is None:
            raise RuntimeError(f"{key} handed no audio to the device")
        timings[kind].append((device.first_block_at - before) * 1000)

    async def run() -> None:
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            await pilot.press("space")  # playing: every move now plays what it lands on
            for _ in range(moves):
                for _ in range(4):  # at the end of the list: r draws more (some may rank above the selection)
                    if app.index < len(app.session.entries) - 1:
                        break
                    await timed(pilot, "r", "r")
                await timed(pilot, "right", "candidate")
            await pilot.press("g")  # the grid from the selected candidate: corners decoded already
            await pilot.pause()
            if not app.playing:
                await pilot.press("space")
            for key in snake_keys():
                if len(timings["grid cell"]) == moves:
                    break
                x, y = app.grid_position
                x, y = x + {"right": 1, "left": -1}.get(key, 0), y + (key == "down")
                if (x, y) in app.session.grid.cells:  # a corner: decoded already, not the cold path
                    await pilot.press(key)
                    await pilot.pause()
                else:
                    await timed(pilot, key, "grid cell")
            await pilot.press("q")

    asyncio.run(run())
    print(f"r drew the pool from {first_pool} up to {app.session.pool} members ({len(timings['r'])} presses)")
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--soundfont", default=None, help="a .sf2 file, or builtin (default: what clsm chooses)")
    parser.add_argument("--moves", type=int, default=12, help="cold moves per kind")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        timings = measure(args.soundfont, args.moves, args.seed, Path(folder))
    print(f"{'row':<12} {'n':>3} {'median':>8} {'p90':>8} {'max':>8}   (ms; keypress -> first buffer, r: -> pool ranked)")
    worst = 0.0
    for kind, values in timings.items():
        if not values:
            continue
        values = sorted(values)
        p90 = values[min(len(values) - 1, int(0.9 * len(values)))]
        if kind != "pool drawn":  # not a keypress: drawn before any → can be pressed
            worst = max(worst, values[-1])
        print(f"{kind:<12} {len(values):>3} {statistics.median(values):>8.1f} {p90:>8.1f} {values[-1]:>8.1f}")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    verdict = "within" if worst <= BOUND_MS else "over"
    print(f"worst keypress {worst:.1f} ms: {verdict} the {BOUND_MS:.0f} ms bound (load average {load:.1f}, {os.cpu_count()} CPUs)")
    sys.exit(0)


if __name__ == "__main__":
    main()
