"""Training-step time of each model per preset at batch 64 (forward + backward + Adam step), on CPU.

Usage: python benchmarks/forward.py [--presets small,paper] [--kinds clsm,vae,arnn,lm] [--steps 5]
    [--batch-size 64] [--threads N] [--bf16]

Prints one line per (preset, kind): milliseconds per step and windows per second. The CLSM step
draws τ as training does (|x_T| from {16, 32, 48, 64}, a bar-aligned start), so its time is an
average over target lengths; every model gets the same sequence of τ and data. ``--bf16`` runs
the forward pass under CPU autocast to bfloat16 (fast on CPUs with AMX / AVX512-BF16).

On a machine whose cores are busy with other work, OpenMP's spinning threads can make multi-thread
runs many times slower; run with ``OMP_WAIT_POLICY=PASSIVE`` (or ``--threads 1``) there.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from clsm_cli.constants import NUM_MUSIC_TOKENS, STEPS_PER_BAR, TARGET_LENGTHS_STEPS, WINDOW_STEPS
from clsm_cli.models.config import preset_config
from clsm_cli.models.registry import build_model, parameter_count


def train_step(model, kind, tokens, target_start, target_length, optimizer, bf16=False) -> None:
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        losses = _losses(model, kind, tokens, target_start, target_length)
    optimizer.zero_grad(set_to_none=True)
    losses["loss"].backward()
    optimizer.step()


def _losses(model, kind: str, tokens: torch.Tensor, target_start: int, target_length: int) -> dict:
    if kind == "clsm":
        return model.forward_loss(tokens, target_start, target_length, kl_weight=0.012)
    if kind == "vae":
        return model.forward_loss(tokens, kl_weight=0.4)
    return model.forward_loss(tokens)


def time_model(kind: str, preset: str, batch_size: int, steps: int, warmup: int = 2, bf16: bool = False) -> tuple[float, int]:
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
        train_step(model, kind, tokens, start, length, optimizer, bf16)
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
    parser.add_argument("--bf16", action="store_true", help="forward pass under CPU autocast to bfloat16")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch_size}, "
          f"{args.steps} timed steps after 2 warm-up steps (median){', bf16 autocast' if args.bf16 else ''}")
    for preset in args.presets.split(","):
        for kind in args.kinds.split(","):
            seconds, parameters = time_model(kind, preset, args.batch_size, args.steps, bf16=args.bf16)
            print(f"{preset:6s} {kind:5s} {parameters / 1e6:6.2f} M params  {seconds * 1000:7.1f} ms/step  "
                  f"{args.batch_size / seconds:7.1f} windows/s")


if __name__ == "__main__":
    main()
