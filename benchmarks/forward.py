"""Training-step time of each model per preset at batch 64 (forward + backward + Adam step), on CPU.

Usage: python benchmarks/forward.py [--presets small,paper] [--kinds clsm,vae,arnn,lm] [--steps 5]
    [--batch-size 64] [--threads N]

Prints one line per (preset, kind): milliseconds per step and windows per second. The CLSM step
draws τ as training does (|x_T| from {16, 32, 48, 64}, a bar-aligned start), so its time is an
average over target lengths; every model gets the same sequence of τ and data.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from clsm_cli.constants import NUM_MUSIC_TOKENS, STEPS_PER_BAR, TARGET_LENGTHS_STEPS, WINDOW_STEPS
from clsm_cli.models.config import preset_config
from clsm_cli.models.registry import build_model, parameter_count


def train_step(model, kind: str, tokens: torch.Tensor, target_start: int, target_length: int, optimizer) -> None:
    if kind == "clsm":
        losses = model.forward_loss(tokens, target_start, target_length, kl_weight=0.012)
    elif kind == "vae":
        losses = model.forward_loss(tokens, kl_weight=0.4)
    else:
        losses = model.forward_loss(tokens)
    optimizer.zero_grad(set_to_none=True)
    losses["loss"].backward()
    optimizer.step()


def time_model(kind: str, preset: str, batch_size: int, steps: int, warmup: int = 2) -> tuple[float, int]:
    """Median seconds per training step, and the parameter count."""
    torch.manual_seed(0)
    model = build_model(preset_config(kind, preset)).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-4, fused=True)  # fused: one kernel, not one loop per tensor
    generator = torch.Generator().manual_seed(0)
    times = []
    for step in range(warmup + steps):
        tokens = torch.randint(0, NUM_MUSIC_TOKENS, (batch_size, WINDOW_STEPS), generator=generator)
        length = TARGET_LENGTHS_STEPS[step % len(TARGET_LENGTHS_STEPS)]
        start = STEPS_PER_BAR * int(torch.randint(0, (WINDOW_STEPS - length) // STEPS_PER_BAR + 1, (1,), generator=generator))
        began = time.perf_counter()
        train_step(model, kind, tokens, start, length, optimizer)
        if step >= warmup:
            times.append(time.perf_counter() - began)
    return statistics.median(times), parameter_count(model)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", default="small,paper")
    parser.add_argument("--kinds", default="clsm,vae,arnn,lm")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch_size}, "
          f"{args.steps} timed steps after 2 warm-up steps (median)")
    for preset in args.presets.split(","):
        for kind in args.kinds.split(","):
            seconds, parameters = time_model(kind, preset, args.batch_size, args.steps)
            print(f"{preset:6s} {kind:5s} {parameters / 1e6:6.2f} M params  {seconds * 1000:7.1f} ms/step  "
                  f"{args.batch_size / seconds:7.1f} windows/s")


if __name__ == "__main__":
    main()
