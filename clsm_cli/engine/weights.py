"""Reading a CLSM's ``model.safetensors`` without torch, for the numpy engine.

``clsm_weight_shapes(config)`` lists every tensor the torch CLSM's state dict holds, by its name,
with its shape, computed from the config alone; ``read_clsm_weights`` reads the file through
``safetensors.numpy`` and refuses, with one ``ModelError`` sentence (exit 4), a file whose digest
differs from its config.json, whose tensors are missing, extra, misshapen, of a dtype other than
float32/float16, or hold a NaN or an infinity. Weights come back as float32.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from clsm_cli.checkpoint import WEIGHTS_FILE, _file_sha256 as file_sha256  # one digest function for both loaders
from clsm_cli.errors import ModelError

ACCEPTED_DTYPES = (np.dtype(np.float32), np.dtype(np.float16))


def clsm_weight_shapes(config: Any) -> dict[str, tuple[int, ...]]:
    """Name -> shape of every tensor in a CLSM's state dict (``models/clsm.py``), from its config."""
    d = config.d_model
    shapes: dict[str, tuple[int, ...]] = {}

    def linear(prefix: str, out_dim: int, in_dim: int) -> None:
        shapes[f"{prefix}.weight"], shapes[f"{prefix}.bias"] = (out_dim, in_dim), (out_dim,)

    def norm(prefix: str) -> None:
        shapes[f"{prefix}.weight"], shapes[f"{prefix}.bias"] = (d,), (d,)

    def attention(prefix: str, relative: bool) -> None:
        linear(f"{prefix}.query", d, d)
        linear(f"{prefix}.key_value", 2 * d, d)
        linear(f"{prefix}.out", d, d)
        if relative and config.max_relative_distance is not None:
            shapes[f"{prefix}.relative_keys.weight"] = (2 * config.max_relative_distance + 1, d // config.num_heads)

    def transformer(prefix: str, cross: bool) -> None:
        for number in range(config.num_layers):
            layer = f"{prefix}.layers.{number}"
            norm(f"{layer}.self_norm")
            attention(f"{layer}.self_attention", relative=True)
            if cross:
                norm(f"{layer}.cross_norm")
                attention(f"{layer}.cross_attention", relative=False)
            norm(f"{layer}.ff_norm")
            linear(f"{layer}.feed_forward.0", config.ff_dim, d)
            linear(f"{layer}.feed_forward.3", d, config.ff_dim)
        norm(f"{prefix}.final_norm")

    def latent_encoder(prefix: str) -> None:
        shapes[f"{prefix}.token_embedding.weight"] = (config.vocab_size, d)
        shapes[f"{prefix}.position_embedding.weight"] = (config.window_steps, d)
        transformer(f"{prefix}.transformer", cross=False)
        hidden = config.lstm_hidden
        for number in range(config.lstm_layers):
            for suffix in (f"l{number}", f"l{number}_reverse"):
                shapes[f"{prefix}.head.lstm.weight_ih_{suffix}"] = (4 * hidden, d if number == 0 else 2 * hidden)
                shapes[f"{prefix}.head.lstm.weight_hh_{suffix}"] = (4 * hidden, hidden)
                shapes[f"{prefix}.head.lstm.bias_ih_{suffix}"] = (4 * hidden,)
                shapes[f"{prefix}.head.lstm.bias_hh_{suffix}"] = (4 * hidden,)
        for name in ("mean", "logvar"):
            linear(f"{prefix}.head.{name}.0", config.mlp_hidden, 2 * hidden)
            linear(f"{prefix}.head.{name}.2", config.z_dim, config.mlp_hidden)

    latent_encoder("encoder")
    latent_encoder("prior_network")
    half = config.z_dim // 2
    for number in range(config.flow_layers):
        moves_second_half = number % 2 == 0
        kept, moved = (half, config.z_dim - half) if moves_second_half else (config.z_dim - half, half)
        for net in ("scale_net", "shift_net"):
            prefix = f"flow.couplings.{number}.{net}"
            linear(f"{prefix}.0", config.flow_hidden, kept)
            linear(f"{prefix}.2", config.flow_hidden, config.flow_hidden)
            linear(f"{prefix}.4", moved, config.flow_hidden)
    shapes["decoder.token_embedding.weight"] = (config.vocab_size, d)
    shapes["decoder.position_embedding.weight"] = (config.window_steps + 1, d)
    linear("decoder.latent_to_memory", config.latent_memory_length * d, config.z_dim)
    transformer("decoder.transformer", cross=True)
    linear("decoder.output", config.num_music_tokens, d)
    return shapes


def read_clsm_weights(directory: Path, config: Any, expected_sha256: str | None) -> dict[str, np.ndarray]:
    """The checked float32 weights of the CLSM in ``directory``; ModelError (exit 4) for any fault."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    path = Path(directory) / WEIGHTS_FILE
    if not path.is_file():
        raise ModelError(f"the model in {directory} has no {WEIGHTS_FILE}: its weights are missing")
    if expected_sha256 is not None and file_sha256(path) != expected_sha256:
        raise ModelError(
            f"the weights in {directory} do not match its config.json (the file is truncated or was "
            "replaced); reinstall or retrain the model"
        )
    try:
        arrays = load_file(str(path))
    except (SafetensorError, OSError, ValueError, TypeError):  # truncated, foreign or a dtype numpy lacks (bfloat16)
        raise ModelError(f"{path} is not a readable safetensors file of float32 or float16 weights") from None
    check_weights(arrays, clsm_weight_shapes(config), Path(directory))
    return {name: array.astype(np.float32) for name, array in arrays.items()}


def check_weights(arrays: dict[str, np.ndarray], shapes: dict[str, tuple[int, ...]], directory: Path) -> None:
    """ModelError unless ``arrays`` are exactly the named, shaped, finite float tensors of ``shapes``."""
    missing = sorted(set(shapes) - set(arrays))
    unexpected = sorted(set(arrays) - set(shapes))
    if missing or unexpected:
        parts = ([f"missing {_few(missing)}"] if missing else []) + ([f"unexpected {_few(unexpected)}"] if unexpected else [])
        raise ModelError(f"the weights in {directory} do not fit its config ({'; '.join(parts)})")
    for name, shape in shapes.items():
        array = arrays[name]
        if array.dtype not in ACCEPTED_DTYPES:
            raise ModelError(f"the weights in {directory} hold {name} as {array.dtype}; clsm reads float32 or float16 weights")
        if tuple(array.shape) != shape:
            raise ModelError(
                f"the weights in {directory} do not fit its config ({name}: {tuple(array.shape)} instead of {shape})"
            )
        if not np.isfinite(array).all():
            raise ModelError(f"the weights in {directory} hold NaN or infinite values (in {name}); the model is broken")


def _few(names: list[str], limit: int = 3) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")
