"""Training throughput of `clsm train` on the CPU: windows per second per preset and model kind.

Times the loop's own ``train_step`` (objective, loss module, Adam), with τ / constraint masks drawn
as training draws them, after a warm-up that visits every target length (oneDNN builds LSTM
kernels per input shape; a real run pays that once). With ``--end-to-end`` it also runs the whole
``train()`` loop (data loading, logging, checkpoints, validation excluded) on a generated dataset,
so loop overhead shows as the difference. ``--profile`` prints where one step's time goes.

Usage::

    python benchmarks/train.py                                  # tiny and small, every kind
    python benchmarks/train.py --presets small --kinds clsm --steps 20 --profile
    python benchmarks/train.py --presets paper --kinds clsm --steps 3
    python benchmarks/train.py --presets small --kinds clsm --end-to-end
    python benchmarks/train.py --presets small --bf16            # --precision bf16 (CPUs with AMX)

The issue's target: the ``small`` CLSM at batch 64 on 2 CPU cores trains >= 100 windows/s (goal
150). Figures depend on the machine and on its load; the script prints the load average with them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from clsm_cli.models.config import preset_config
from clsm_cli.models.registry import build_model, parameter_count
from clsm_cli.train.distributed import Runtime
from clsm_cli.train.loop import LossModule, TrainOptions, make_optimizer, train, train_step
from clsm_cli.train.objectives import DEFAULT_BETA, DEFAULT_GAMMA, Objective, ObjectiveSettings

KINDS = ("clsm", "vae", "arnn", "arnn-t", "lm")


def random_melodies(count: int, seed: int) -> np.ndarray:
    """(count, 128) uint8 windows of random notes (1-8 steps each), canonical like real data."""
    rng = np.random.default_rng(seed)
    windows = np.full((count, 128), 31, dtype=np.uint8)
    for row in range(count):
        step = 0
        while step < 128:
            windows[row, step] = rng.integers(0, 31)  # a pitch or a rest
            step += int(rng.integers(1, 9))
    return windows


def step_timings(kind: str, preset: str, batch_size: int, steps: int, seed: int = 0, bf16: bool = False) -> dict:
    """Seconds (wall and CPU) per training step after warm-up, and the parameter count."""
    torch.manual_seed(seed)
    config = preset_config(kind, preset)
    model = build_model(config).train()
    final_weight = DEFAULT_BETA if kind == "clsm" else DEFAULT_GAMMA if kind == "vae" else 0.0
    objective = Objective(ObjectiveSettings(kind=kind, final_kl_weight=final_weight, latent_dim=getattr(config, "z_dim", 0)))
    loss_module = LossModule(model, objective)
    optimizer = make_optimizer(model, 5e-4)
    runtime = Runtime(torch.device("cpu"), amp_dtype=torch.bfloat16 if bf16 else None)
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    windows = torch.from_numpy(random_melodies(batch_size * 4, seed)).long()
    conditions_generator = torch.Generator().manual_seed(seed)
    noise = torch.Generator().manual_seed(seed + 1)

    def one_step(index: int, conditions=None) -> None:
        tokens = windows[(index % 4) * batch_size : (index % 4 + 1) * batch_size]
        if conditions is None:
            conditions = objective.sample_conditions(model, batch_size, conditions_generator, noise)
        train_step(loss_module, optimizer, scaler, runtime, tokens, conditions, final_weight)

    if kind == "clsm":  # build every target length's kernels once, as a real run soon does
        from clsm_cli.train.objectives import BatchConditions, TargetSpan

        for length in config.target_lengths:
            one_step(0, BatchConditions(target=TargetSpan(0, length)))
    else:
        one_step(0)
    walls, cpus = [], []
    for index in range(steps):
        wall, cpu = time.perf_counter(), time.process_time()
        one_step(index)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return {"parameters": parameter_count(model), "wall": walls, "cpu": cpus}


def profile_step(kind: str, preset: str, batch_size: int, rows: int = 15) -> None:
    from torch.profiler import ProfilerActivity, profile, record_function

    step_timings(kind, preset, batch_size, steps=1)  # warm-up in this process
    torch.manual_seed(0)
    model = build_model(preset_config(kind, preset)).train()
    final_weight = DEFAULT_BETA if kind == "clsm" else DEFAULT_GAMMA if kind == "vae" else 0.0
    objective = Objective(ObjectiveSettings(kind=kind, final_kl_weight=final_weight))
    optimizer = make_optimizer(model, 5e-4)
    tokens = torch.from_numpy(random_melodies(batch_size, 0)).long()
    generator = torch.Generator().manual_seed(0)
    conditions = objective.sample_conditions(model, batch_size, generator)
    for _ in range(2):
        out = objective.training_loss(model, tokens, conditions, final_weight, generator)
        out["loss"].backward()
        optimizer.step()
        optimizer.zero_grad()
    with profile(activities=[ProfilerActivity.CPU]) as profiler:
        with record_function("forward"):
            out = objective.training_loss(model, tokens, conditions, final_weight, generator)
        with record_function("backward"):
            out["loss"].backward()
        with record_function("adam"):
            optimizer.step()
            optimizer.zero_grad()
    print(f"\nprofile of one {preset} {kind} step (target {conditions.target}):")
    print(profiler.key_averages().table(sort_by="cpu_time_total", row_limit=rows))


def write_random_dataset(directory: Path, counts: dict[str, int]) -> Path:
    """A dataset folder in the real shard format with ``counts[split]`` random windows per split."""
    import numpy as np

    from clsm_cli.constants import NUM_MUSIC_TOKENS, WINDOW_STEPS
    from clsm_cli.data import shards
    from clsm_cli.data.splits import HELD_OUT_SPLITS, TRAIN_SPLITS

    directory.mkdir(parents=True)
    writer = shards.DatasetWriter(directory, windows_per_shard=256)
    rng = np.random.default_rng(0)
    for split in TRAIN_SPLITS + HELD_OUT_SPLITS:
        windows = rng.integers(0, NUM_MUSIC_TOKENS, (counts.get(split, 0), WINDOW_STEPS)).astype(np.uint8)
        origins = np.zeros((len(windows), 4), dtype=np.int32)
        if split in TRAIN_SPLITS:
            writer.add_training(split, windows, origins, original_key=np.zeros((0, WINDOW_STEPS), dtype=np.uint8))
        else:
            writer.add_held_out(split, windows, origins)
    manifest = {"format": shards.FORMAT_NAME, "format_version": shards.FORMAT_VERSION, "splits": writer.finish()}
    shards.write_json(directory / shards.SOURCES_NAME, [])
    manifest["content_sha256"] = shards.content_sha256(directory)
    shards.write_json(directory / shards.MANIFEST_NAME, manifest)
    return directory


def end_to_end(kind: str, preset: str, batch_size: int, steps: int) -> float:
    """Windows per second of a real ``train()`` run (validation excluded) on a generated dataset."""
    with tempfile.TemporaryDirectory() as root:
        counts = {"train-1": batch_size * (steps + 2), "valid-1": 8, "train-2": batch_size * (steps + 2), "valid-2": 8}
        data = write_random_dataset(Path(root) / "data", counts)
        started = time.perf_counter()
        result = train(
            TrainOptions(kind=kind, data_dir=data, out=str(Path(root) / "model"), preset=preset, batch_size=batch_size,
                         max_steps=steps, device="cpu", max_validation_windows=8, log_every=steps),
        )
        elapsed = time.perf_counter() - started
        import json

        log = [json.loads(line) for line in result.log_path.read_text().splitlines()]
        train_lines = [line for line in log if line["type"] == "train"]
        print(f"  end-to-end: {result.global_step} steps, {elapsed:.1f} s including setup, validation and saving")
        return train_lines[-1]["windows_per_second"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--presets", default="tiny,small", help="comma-separated: tiny, small, paper")
    parser.add_argument("--kinds", default=",".join(KINDS), help="comma-separated: " + ", ".join(KINDS))
    parser.add_argument("--steps", type=int, default=10, help="timed steps per model (paper: use 2-3)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--profile", action="store_true", help="print a profile of one step per model")
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast (clsm train --precision bf16)")
    parser.add_argument("--end-to-end", action="store_true", help="also time the whole train() loop")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
        f"load average {load:.2f} (other work on the machine slows every figure), batch {args.batch_size}, "
        f"{'bf16 autocast' if args.bf16 else 'fp32'}"
    )
    print(f"{'preset':<7}{'kind':<8}{'params':>11}{'ms/step':>10}{'(min)':>8}{'cpu s/step':>12}{'windows/s':>11}")
    for preset in args.presets.split(","):
        for kind in args.kinds.split(","):
            timings = step_timings(kind, preset, args.batch_size, args.steps, bf16=args.bf16)
            median = statistics.median(timings["wall"])
            print(
                f"{preset:<7}{kind:<8}{timings['parameters']:>11,}{median * 1000:>10.0f}"
                f"{min(timings['wall']) * 1000:>8.0f}{statistics.median(timings['cpu']):>12.2f}"
                f"{args.batch_size / median:>11.1f}",
                flush=True,
            )
            if args.end_to_end:
                print(f"  end-to-end windows/s: {end_to_end(kind, preset, args.batch_size, args.steps):.1f}")
            if args.profile:
                profile_step(kind, preset, args.batch_size)


if __name__ == "__main__":
    main()
