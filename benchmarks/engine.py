"""One process doing an infill's worth of engine work: what ``clsm infill`` costs without the MIDI and CLI.

For each of ``--files`` windows: the contextual prior, the candidates' draws
(``draws.candidate_draws``), w = mu + sigma * eps, z = f^-1(w) and the cached decoder at the model's
recommended decoding, exactly the calls an infill makes, with ``load_engine`` choosing and loading
the engine first. Windows are random music tokens around bars 3-4 of an 8-bar window (target 32+32
steps): decoding costs the same whatever the tokens. ``benchmarks/cli.py`` runs this script as a
child process to time it from the shell; run alone it prints its own phases.

Usage: ``python benchmarks/engine.py [--engine numpy|torch] [-n 4] [--files 1] [--model NAME|DIR]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

# One BLAS thread, set before numpy loads, as the clsm command sets it (clsm_cli/cli/__init__.py):
# without it these rows would time a thread pool that `clsm infill` never starts.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402 - after the thread setting

from clsm_cli.engine import latent  # noqa: E402
from clsm_cli.engine.draws import candidate_draws  # noqa: E402
from clsm_cli.engine.load import load_engine  # noqa: E402
from clsm_cli.engine.protocol import TargetSpan  # noqa: E402
from clsm_cli.sampling import Decoding  # noqa: E402

TARGET = TargetSpan(start=32, length=32)  # bars 3-4 of an 8-bar window of 16-step bars


def infill_window(engine, window: np.ndarray, candidates: int, seed: int, decoding: Decoding) -> np.ndarray:
    """The engine calls of one infill of one window: (candidates, target length) uint8 tokens."""
    draws = [candidate_draws(seed, k, engine.config.z_dim, TARGET.length) for k in range(candidates)]
    prior = engine.prior(window, TARGET)
    w = latent.prior_sample_w(prior.mean, prior.logvar, np.stack([draw.latent_noise for draw in draws]))
    uniforms = None if decoding.is_argmax else np.stack([draw.token_uniforms for draw in draws])
    return engine.decode(window, TARGET, engine.flow_inverse(w), decoding, uniforms)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", default="numpy", choices=("numpy", "torch"))
    parser.add_argument("-n", "--candidates", type=int, default=4)
    parser.add_argument("--files", type=int, default=1, help="windows infilled after one load")
    parser.add_argument("--model", default=None, help="model name or folder (default: the shipped one)")
    args = parser.parse_args()

    began = time.perf_counter()
    loaded = load_engine(args.model, engine=args.engine, device="cpu")
    loaded_at = time.perf_counter()
    config = loaded.config
    decoding = Decoding(config.decoding_temperature, config.decoding_top_p)
    rng = np.random.default_rng(0)
    for file in range(args.files):
        window = rng.integers(0, config.num_music_tokens - 2, config.window_steps).astype(np.uint8)  # pitches only
        infill_window(loaded.engine, window, args.candidates, seed=file, decoding=decoding)
    ended = time.perf_counter()
    torch_loaded = "torch" in sys.modules
    print(
        f"{args.engine}: load {loaded_at - began:.3f} s, {args.files} x infill -n {args.candidates} "
        f"{ended - loaded_at:.3f} s ({args.files / (ended - loaded_at):.1f} files/s); torch imported: {torch_loaded}"
    )


if __name__ == "__main__":
    main()
