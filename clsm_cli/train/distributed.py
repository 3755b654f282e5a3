"""Where a training process runs: device, mixed precision and (optionally) its data-parallel rank.

Precision: ``auto`` is bf16 autocast on CUDA GPUs that support it (fp16 with a gradient scaler
otherwise) and fp32 on the CPU; ``--precision bf16`` on the CPU is an opt-in for CPUs with AMX.

One process is the ordinary case. Under ``torchrun`` (``python -m torch.distributed.run
--nproc_per_node N -m clsm_cli train ...``) the environment carries ``RANK``, ``WORLD_SIZE`` and
``LOCAL_RANK``; every rank then builds the same global batch (with its τ, constraint masks and
posterior noise, see ``objectives.py``) and trains on its own equal slice of it, and
DistributedDataParallel averages the gradients, so N processes take the same optimizer step as one
process on the whole batch (up to float rounding; dropout masks alone are drawn per rank). CUDA
ranks use NCCL, CPU ranks gloo.
"""

from __future__ import annotations

import os
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Optional

import torch
import torch.distributed as dist

from clsm_cli.device import choose_device
from clsm_cli.errors import UsageError

PRECISION_CHOICES = ("auto", "fp32", "bf16", "fp16")


@dataclass(frozen=True)
class Runtime:
    device: torch.device
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    amp_dtype: Optional[torch.dtype] = None  # None: full fp32

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def precision(self) -> str:
        return {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.amp_dtype]

    def autocast(self):
        """Mixed precision (CUDA, or bf16 on the CPU when asked for); a no-op context in fp32."""
        if self.amp_dtype is None:
            return nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    def describe(self) -> str:
        name = str(self.device)
        if self.device.type == "cuda":
            name += f" ({torch.cuda.get_device_name(self.device)})"
        text = f"{name}, {self.precision}"
        if self.distributed:
            text += f", {self.world_size} processes"
        return text


def start_runtime(device: str = "auto", precision: str = "auto") -> Runtime:
    """Pick the device and precision, and join the process group when launched by torchrun."""
    if precision not in PRECISION_CHOICES:
        raise UsageError(f"--precision must be one of {', '.join(PRECISION_CHOICES)}, got {precision!r}")
    use_cuda = choose_device(device) == "cuda"
    if not use_cuda and precision == "fp16":
        raise UsageError("--precision fp16 needs a CUDA GPU; on the CPU use fp32 (the default) or bf16")

    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if use_cuda:
        if world_size > 1 and local_rank >= torch.cuda.device_count():
            raise UsageError(
                f"torchrun started {world_size} processes on this machine but it has "
                f"{torch.cuda.device_count()} GPUs; lower --nproc_per_node"
            )
        torch_device = torch.device("cuda", local_rank)
        torch.cuda.set_device(torch_device)
    else:
        torch_device = torch.device("cpu")
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")

    amp_dtype: Optional[torch.dtype] = None
    if use_cuda:
        if precision == "auto":
            amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        else:
            amp_dtype = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]
    elif precision == "bf16":
        # Opt-in only: bf16 autocast roughly halves step time on CPUs with AMX (Sapphire Rapids and
        # later) and is slower than fp32 on CPUs without native bf16, so "auto" stays fp32 here.
        amp_dtype = torch.bfloat16
    return Runtime(torch_device, rank, world_size, local_rank, amp_dtype)


def stop_runtime(runtime: Runtime) -> None:
    if runtime.distributed and dist.is_initialized():
        dist.destroy_process_group()


def rank_rows(batch_size: int, runtime: Runtime) -> tuple[int, int]:
    """The slice ``start:stop`` of a global batch that this rank trains on."""
    if batch_size % runtime.world_size:
        raise UsageError(
            f"--batch-size {batch_size} must be divisible by the number of processes ({runtime.world_size})"
        )
    per_rank = batch_size // runtime.world_size
    return runtime.rank * per_rank, (runtime.rank + 1) * per_rank


def all_reduce_sum(values: list[float], runtime: Runtime) -> list[float]:
    """Sum a list of floats over all ranks (float64, so sums of metrics stay exact enough)."""
    if not runtime.distributed:
        return list(values)
    tensor = torch.tensor(values, dtype=torch.float64, device=_collective_device(runtime))
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor.tolist()


def all_gather_objects(value, runtime: Runtime) -> list:
    if not runtime.distributed:
        return [value]
    gathered: list = [None] * runtime.world_size
    dist.all_gather_object(gathered, value)
    return gathered


def broadcast_object(value, runtime: Runtime):
    """Rank 0's ``value`` on every rank (used so every rank agrees on a stop decision)."""
    if not runtime.distributed:
        return value
    holder = [value]
    dist.broadcast_object_list(holder, src=0)
    return holder[0]


def barrier(runtime: Runtime) -> None:
    if runtime.distributed:
        dist.barrier()


def _collective_device(runtime: Runtime) -> torch.device:
    return runtime.device if runtime.device.type == "cuda" else torch.device("cpu")
