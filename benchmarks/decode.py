"""Cached vs naive CLSM decoding: 16 candidates × 64 target steps, on CPU, in inference mode.

Usage: python benchmarks/decode.py [--presets small,paper] [--candidates 16] [--target-length 64]
    [--repeats 3] [--threads N]

Cached: one pass over the context fills each layer's key/value cache, then each generated token
appends one position (``CLSM.decode``). Naive: one full decoder forward over all K + 1 = 129
positions per generated token (``CLSM.decode_uncached``). Both decode the same batch from the same
z, and the script checks that they produce the same tokens. Weights are untrained (timing does not
depend on them). Ends with ``cached speedup (small): N.Nx``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from clsm_cli.constants import NUM_MUSIC_TOKENS, WINDOW_STEPS
from clsm_cli.models.config import preset_config
from clsm_cli.models.registry import build_model


def best_time(function, repeats: int) -> float:
    function()  # warm-up
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        function()
        times.append(time.perf_counter() - began)
    return min(times)


def measure(preset: str, candidates: int, target_length: int, repeats: int) -> tuple[float, float]:
    torch.manual_seed(0)
    model = build_model(preset_config("clsm", preset)).eval()
    generator = torch.Generator().manual_seed(0)
    tokens = torch.randint(0, NUM_MUSIC_TOKENS, (1, WINDOW_STEPS), generator=generator)
    target_start = (WINDOW_STEPS - target_length) // 2 // 16 * 16  # a target with context on both sides
    with torch.inference_mode():
        z = torch.randn(candidates, model.config.z_dim, generator=generator)  # any latents: timing only
        cached = model.decode(tokens, target_start, target_length, z)
        naive = model.decode_uncached(tokens, target_start, target_length, z)
        if not torch.equal(cached, naive):
            raise SystemExit(f"{preset}: cached and naive decoding disagree")
        cached_s = best_time(lambda: model.decode(tokens, target_start, target_length, z), repeats)
        naive_s = best_time(lambda: model.decode_uncached(tokens, target_start, target_length, z), repeats)
    return cached_s, naive_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", default="small,paper")
    parser.add_argument("--candidates", type=int, default=16)
    parser.add_argument("--target-length", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {args.candidates} candidates × "
          f"{args.target_length} target steps; best of {args.repeats}")
    speedups = {}
    for preset in args.presets.split(","):
        cached_s, naive_s = measure(preset, args.candidates, args.target_length, args.repeats)
        speedups[preset] = naive_s / cached_s
        print(f"{preset:6s} cached {cached_s * 1000:8.1f} ms   naive {naive_s * 1000:8.1f} ms   "
              f"speedup {speedups[preset]:5.1f}x   ({args.candidates * args.target_length / cached_s:,.0f} tokens/s cached)")
    if "small" in speedups:
        print(f"cached speedup (small): {speedups['small']:.1f}x")


if __name__ == "__main__":
    main()
