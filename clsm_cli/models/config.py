"""Model configurations: one frozen dataclass per model kind, with named presets.

A config says everything needed to rebuild a model's layers (sizes, vocabulary, grid, meters) and
how the model is meant to be decoded. It is saved inside every checkpoint (``config_to_dict``), so
loading a model never needs a preset name. This module imports no torch: ``clsm models`` can read
configs without it.

Presets (DESIGN.md section 3):
  ``paper``  the sizes of Akama (ISMIR 2021) section 2.4 (CLSM about 7.9 M parameters);
  ``small``  the shipped CPU default (narrower LSTMs, MLPs and z; no dropout);
  ``tiny``   a few thousand parameters, for tests only.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Union

from clsm_cli.constants import (
    BARS_PER_WINDOW,
    NUM_MUSIC_TOKENS,
    STEPS_PER_BAR,
    TARGET_LENGTHS_STEPS,
    TRIPLET_VOCAB_SIZE,
    VOCAB_SIZE,
    WINDOW_STEPS,
)
from clsm_cli.errors import ModelError
from clsm_cli import timebase
from clsm_cli.timebase import GRID_ENCODINGS, SIXTEENTH_ENCODING, Grid, Meter, bar_steps

DEFAULT_METERS = ((4, 4), (2, 2))  # 2/2 bars have the 4/4 length and share its 16-step grid


@dataclass(frozen=True)
class _ModelGrid:
    """What every kind's config holds first: its kind, the vocabulary it reads and the grid it knows."""

    kind: str = ""
    # Vocabulary and grid: the checkpoint refuses data that disagrees with these.
    vocab_size: int = VOCAB_SIZE  # input symbols: 32 music tokens + <s>, <p>, <pad>
    num_music_tokens: int = NUM_MUSIC_TOKENS  # decoder classes: a target never holds a special
    window_steps: int = WINDOW_STEPS  # K: tokens per window (8 bars of steps_per_bar)
    steps_per_bar: int = STEPS_PER_BAR  # the grid the model was trained on (16 in 4/4)
    meters: tuple[tuple[int, int], ...] = DEFAULT_METERS  # meters whose bars it may edit
    target_lengths: tuple[int, ...] = TARGET_LENGTHS_STEPS  # |x_T| seen in training (1..4 bars)
    # "16th" (the paper's grid; configs saved before the field read as it) or "triplet" (a quarter
    # is 4 sixteenths or a triplet marker and 3 triplets; x/4 and 2/2 only; timebase.Grid).
    grid_encoding: str = SIXTEENTH_ENCODING

    @property
    def grid(self) -> Grid:
        return Grid(encoding=self.grid_encoding)


@dataclass(frozen=True)
class CLSMConfig(_ModelGrid):
    """Contextual Latent Space Model (paper section 2.4)."""

    kind: str = "clsm"
    # Transformers (encoder, prior and decoder all use these).
    d_model: int = 128  # token embedding size = transformer width (paper: 128)
    num_heads: int = 8  # attention heads (paper: 8)
    ff_dim: int = 256  # feed-forward hidden size (paper: "hidden size" 256)
    num_layers: int = 2  # layers in each transformer (paper: 2)
    dropout: float = 0.1  # transformer and Bi-LSTM dropout (paper: 0.1)
    max_relative_distance: int = 128  # relative positions are clipped to +-this (128 = whole window)
    # Encoder / prior heads.
    lstm_hidden: int = 256  # Bi-LSTM hidden size per direction (paper: 256)
    lstm_layers: int = 2  # Bi-LSTM layers (paper: 2)
    mlp_hidden: int = 512  # hidden size of the mean / log-variance MLPs (paper: 512)
    z_dim: int = 128  # latent size d_z (paper: 128)
    # Flow f: Z -> W.
    flow_layers: int = 4  # affine couplings (paper: 4)
    flow_hidden: int = 256  # width of each scale/shift MLP (paper: 256)
    # Decoder's view of z.
    latent_memory_length: int = 4  # l_z memory vectors made from z by one Linear (paper: 4)
    # Decoding the CLI uses by default; 0.0 temperature is argmax (the paper's choice).
    decoding_temperature: float = 0.0
    decoding_top_p: float = 1.0  # nucleus mass kept when sampling (1.0 = all)


@dataclass(frozen=True)
class VAEConfig(_ModelGrid):
    """Baseline VAE (paper section 3.2.1): Bi-LSTM encoder over x, LSTM decoder, N(0, I) prior."""

    kind: str = "vae"
    embedding_dim: int = 128  # token embedding size (as the CLSM's)
    lstm_hidden: int = 256  # LSTMs "equal to those of the LSTMs in CLSM" (paper 3.2.1)
    lstm_layers: int = 2  # 2-layer Bi-LSTM encoder and 2-layer LSTM decoder
    dropout: float = 0.1  # between LSTM layers
    mlp_hidden: int = 512  # mean / log-variance MLPs, as the CLSM's
    z_dim: int = 128  # latent size, as the CLSM's
    decoding_temperature: float = 0.0  # the paper decodes the VAE by argmax
    decoding_top_p: float = 1.0


@dataclass(frozen=True)
class ARNNConfig(_ModelGrid):
    """Anticipation-RNN baseline (paper section 3.2.2; Hadjeres & Nielsen).

    ``constraint_mode`` says how training draws constraint positions: ``"random"`` (ARNN) or
    ``"targets"`` (ARNN_T: only the complements of the CLSM's target sets).
    """

    kind: str = "arnn"
    constraint_mode: str = "random"  # "random" (ARNN) or "targets" (ARNN_T)
    embedding_dim: int = 128  # token and constraint embedding size
    lstm_hidden: int = 256  # both RNNs, "equal to those of the LSTMs in CLSM" (paper 3.2.2)
    lstm_layers: int = 2  # 2-layer constraint-RNN and 2-layer token-RNN
    dropout: float = 0.1  # between LSTM layers
    decoding_temperature: float = 1.0  # the paper samples ARNN at temperature 1.0
    decoding_top_p: float = 1.0


@dataclass(frozen=True)
class LMConfig(_ModelGrid):
    """The evaluation language model: a vanilla causal transformer that scores whole windows."""

    kind: str = "lm"
    d_model: int = 128  # as the CLSM's transformers
    num_heads: int = 8
    ff_dim: int = 256
    num_layers: int = 2  # "a separate vanilla 2-layer autoregressive transformer"
    dropout: float = 0.1
    decoding_temperature: float = 1.0  # only used if someone samples from the LM
    decoding_top_p: float = 1.0


ModelConfig = Union[CLSMConfig, VAEConfig, ARNNConfig, LMConfig]

CONFIG_CLASSES: dict[str, type] = {
    "clsm": CLSMConfig,
    "vae": VAEConfig,
    "arnn": ARNNConfig,
    "lm": LMConfig,
}

# What `clsm train MODEL` accepts; "arnn-t" is an ARNNConfig trained on target-set constraints.
TRAINABLE_KINDS = ("clsm", "vae", "arnn", "arnn-t", "lm")
PRESET_NAMES = ("paper", "small", "tiny")

_SMALL_TRANSFORMER = dict(d_model=128, num_heads=4, ff_dim=256, num_layers=2, dropout=0.0)
_TINY_TRANSFORMER = dict(d_model=32, num_heads=2, ff_dim=64, num_layers=2, dropout=0.0)

PRESETS: dict[str, dict[str, ModelConfig]] = {
    "paper": {
        "clsm": CLSMConfig(),
        "vae": VAEConfig(),
        "arnn": ARNNConfig(),
        "arnn-t": ARNNConfig(constraint_mode="targets"),
        "lm": LMConfig(),
    },
    "small": {
        "clsm": CLSMConfig(
            **_SMALL_TRANSFORMER, lstm_hidden=128, mlp_hidden=256, z_dim=64, flow_hidden=128,
        ),
        "vae": VAEConfig(embedding_dim=128, lstm_hidden=128, mlp_hidden=256, z_dim=64, dropout=0.0),
        "arnn": ARNNConfig(embedding_dim=128, lstm_hidden=128, dropout=0.0),
        "arnn-t": ARNNConfig(embedding_dim=128, lstm_hidden=128, dropout=0.0, constraint_mode="targets"),
        "lm": LMConfig(**_SMALL_TRANSFORMER),
    },
    "tiny": {
        "clsm": CLSMConfig(
            **_TINY_TRANSFORMER, max_relative_distance=32, lstm_hidden=32, mlp_hidden=32, z_dim=8,
            flow_hidden=32,
        ),
        "vae": VAEConfig(embedding_dim=32, lstm_hidden=32, mlp_hidden=32, z_dim=8, dropout=0.0),
        "arnn": ARNNConfig(embedding_dim=32, lstm_hidden=32, dropout=0.0),
        "arnn-t": ARNNConfig(embedding_dim=32, lstm_hidden=32, dropout=0.0, constraint_mode="targets"),
        "lm": LMConfig(**_TINY_TRANSFORMER),
    },
}


def preset_config(kind: str, preset: str) -> ModelConfig:
    """The config of model ``kind`` (one of TRAINABLE_KINDS) in preset ``paper``, ``small`` or ``tiny``."""
    if preset not in PRESETS:
        raise ModelError(f"unknown preset {preset!r}; choose one of {', '.join(PRESET_NAMES)}")
    if kind not in PRESETS[preset]:
        raise ModelError(f"unknown model kind {kind!r}; choose one of {', '.join(TRAINABLE_KINDS)}")
    return PRESETS[preset][kind]


def config_to_dict(config: ModelConfig) -> dict[str, Any]:
    """A JSON-ready dict (tuples become lists); ``config_from_dict`` inverts it exactly."""
    return _to_json(asdict(config))


def config_from_dict(data: dict[str, Any]) -> ModelConfig:
    """Rebuild a config saved by ``config_to_dict``.

    Fields missing from ``data`` take today's defaults (older checkpoints); unknown fields are an
    error, since they come from a newer clsm whose model this one cannot rebuild faithfully.
    """
    if not isinstance(data, dict):
        raise ModelError("the model config is not a JSON object")
    kind = data.get("kind")
    if not isinstance(kind, str) or kind not in CONFIG_CLASSES:
        raise ModelError(f"unknown model kind {kind!r} in the config; this clsm knows {', '.join(CONFIG_CLASSES)}")
    cls = CONFIG_CLASSES[kind]
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ModelError(
            f"the {kind} config has fields this clsm does not know ({', '.join(unknown)}); "
            "it was probably saved by a newer version"
        )
    values = {name: _from_json(value) for name, value in data.items()}
    try:
        config = cls(**values)
    except TypeError as error:
        raise ModelError(f"the {kind} config is malformed: {error}") from None
    validate_config(config)
    return config


# Valid ranges of the size fields (inclusive). Upper bounds keep a damaged config from asking for
# absurd memory; every shipped preset is far inside them.
_WIDTH = (1, 8192)
_INTEGER_RANGES: dict[str, tuple[int, int]] = {
    "d_model": _WIDTH, "ff_dim": _WIDTH, "lstm_hidden": _WIDTH, "mlp_hidden": _WIDTH, "flow_hidden": _WIDTH,
    "embedding_dim": _WIDTH, "z_dim": (2, 4096), "num_heads": (1, 256), "num_layers": (1, 64),
    "lstm_layers": (1, 64), "flow_layers": (1, 64), "latent_memory_length": (1, 256),
    "max_relative_distance": (1, 4096), "window_steps": (1, 4096), "steps_per_bar": (1, 512),
}
# Each grid's vocabulary: input symbols and decoder classes. The triplet grid's decoders have a
# class for every id up to its marker (35); the specials among them are never allowed when decoding.
_KNOWN_TOKENS = {
    "16th": {"vocab_size": VOCAB_SIZE, "num_music_tokens": NUM_MUSIC_TOKENS},
    "triplet": {"vocab_size": TRIPLET_VOCAB_SIZE, "num_music_tokens": TRIPLET_VOCAB_SIZE},
}
MAX_DECODING_TEMPERATURE = 100.0


def validate_config(config: ModelConfig) -> None:
    """Raise ModelError (exit 4) naming the first field whose value cannot build or run a model.

    Checks every field's type and range, and the grid: ``window_steps`` is 8 bars of
    ``steps_per_bar``, each target length is whole bars inside the window, and every listed meter's
    bar has ``steps_per_bar`` sixteenths.
    """
    kind = getattr(config, "kind", "?")
    encoding = config.grid_encoding
    if encoding not in GRID_ENCODINGS:
        raise ModelError(f"the {kind} config's grid_encoding must be one of {', '.join(GRID_ENCODINGS)}, got {encoding!r}")
    for name, expected in _KNOWN_TOKENS[encoding].items():
        value = getattr(config, name)
        if not _is_integer(value) or value != expected:
            raise ModelError(
                f"the {kind} config's {name} must be {expected} (this clsm's vocabulary on the {encoding} grid), "
                f"got {value!r}"
            )
    for name, (low, high) in _INTEGER_RANGES.items():
        if hasattr(config, name):
            value = getattr(config, name)
            if not _is_integer(value) or not low <= value <= high:
                raise ModelError(f"the {kind} config's {name} must be a whole number from {low} to {high}, got {value!r}")
    dropout = config.dropout
    if not _is_number(dropout) or not 0 <= dropout < 1:
        raise ModelError(f"the {kind} config's dropout must be a number from 0 up to (not including) 1, got {dropout!r}")
    temperature, top_p = config.decoding_temperature, config.decoding_top_p
    if not _is_number(temperature) or not 0 <= temperature <= MAX_DECODING_TEMPERATURE:
        raise ModelError(
            f"the {kind} config's decoding_temperature must be a number from 0 to {MAX_DECODING_TEMPERATURE:g}, "
            f"got {temperature!r}"
        )
    if not _is_number(top_p) or not 0 < top_p <= 1:
        raise ModelError(f"the {kind} config's decoding_top_p must be a number above 0 and at most 1, got {top_p!r}")
    _validate_grid(config, kind)
    if getattr(config, "d_model", 1) % getattr(config, "num_heads", 1) != 0:
        raise ModelError(f"the {kind} config's d_model {config.d_model} is not divisible by its num_heads {config.num_heads}")
    if isinstance(config, CLSMConfig) and config.z_dim % 2 != 0:
        raise ModelError(f"the {kind} config's z_dim must be even for the flow's half-splits, got {config.z_dim}")
    if isinstance(config, ARNNConfig) and config.constraint_mode not in ("random", "targets"):
        raise ModelError(f"the {kind} config's constraint_mode must be 'random' or 'targets', got {config.constraint_mode!r}")


def _validate_grid(config: ModelConfig, kind: str) -> None:
    steps_per_bar, window_steps = config.steps_per_bar, config.window_steps
    meters = config.meters
    if not isinstance(meters, tuple) or not meters or not all(_is_meter(meter) for meter in meters):
        raise ModelError(
            f"the {kind} config's meters must be a non-empty list of [numerator, denominator] pairs such as "
            f"[[4, 4], [2, 2]], got {_shown(meters)}"
        )
    for numerator, denominator in meters:
        if bar_steps(numerator, denominator) != steps_per_bar:
            raise ModelError(
                f"the {kind} config's steps_per_bar ({steps_per_bar}) must equal the steps of every listed meter, "
                f"but a {numerator}/{denominator} bar has {_meter_steps_text(numerator, denominator)}"
            )
        if not config.grid.supports(Meter(numerator, denominator)):
            raise ModelError(
                f"the {kind} config's {config.grid_encoding} grid is defined in x/4 and 2/2 only, "
                f"but it lists {numerator}/{denominator}"
            )
    if window_steps != timebase.window_steps(steps_per_bar):
        raise ModelError(
            f"the {kind} config's window_steps must be {BARS_PER_WINDOW} bars of its steps_per_bar "
            f"({BARS_PER_WINDOW * steps_per_bar}), got {window_steps}"
        )
    lengths = config.target_lengths
    if (
        not isinstance(lengths, tuple)
        or not lengths
        or not all(_is_integer(length) and 0 < length <= window_steps and length % steps_per_bar == 0 for length in lengths)
    ):
        raise ModelError(
            f"the {kind} config's target_lengths must be whole bars of {steps_per_bar} steps within the "
            f"{window_steps}-step window, got {_shown(lengths)}"
        )


def _meter_steps_text(numerator: int, denominator: int) -> str:
    steps = bar_steps(numerator, denominator)
    return "no whole number of sixteenth-note steps" if steps is None else f"{steps}"


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_meter(value: Any) -> bool:
    return (
        isinstance(value, tuple) and len(value) == 2 and all(_is_integer(part) and 1 <= part <= 64 for part in value)
    )


def _shown(value: Any) -> str:
    return json.dumps(_to_json(value)) if isinstance(value, (tuple, list)) else repr(value)


def with_meter(config: ModelConfig, meters: tuple[tuple[int, int], ...]) -> ModelConfig:
    """The same config on the grid of ``meters`` (one meter group, all with the same bar length).

    Steps per bar come from the meters (a 16th per step), the window is 8 bars of them and the
    target lengths 1..4 bars, as in the paper's 4/4 case.
    """
    steps = {bar_steps(numerator, denominator) for numerator, denominator in meters}
    if len(steps) != 1 or None in steps:
        raise ModelError(f"the meters {_shown(meters)} do not share one whole-step bar length")
    steps_per_bar = steps.pop()
    config = replace(
        config,
        steps_per_bar=steps_per_bar,
        window_steps=timebase.window_steps(steps_per_bar),
        target_lengths=timebase.target_lengths(steps_per_bar),
        meters=tuple(tuple(meter) for meter in meters),
    )
    validate_config(config)
    return config


def with_grid(config: ModelConfig, grid: Grid) -> ModelConfig:
    """The same config on ``grid`` (its vocabulary and decoder classes follow the grid's encoding)."""
    config = replace(config, grid_encoding=grid.encoding, **_KNOWN_TOKENS[grid.encoding])
    validate_config(config)
    return config


def with_decoding(config: ModelConfig, temperature: float, top_p: float = 1.0) -> ModelConfig:
    """The same config recommending another decoding (set after measuring a trained model)."""
    config = replace(config, decoding_temperature=float(temperature), decoding_top_p=float(top_p))
    validate_config(config)
    return config


def _to_json(value):
    if isinstance(value, dict):
        return {key: _to_json(item) for key, item in value.items()}
    if isinstance(value, (tuple, list)):
        return [_to_json(item) for item in value]
    return value


def _from_json(value):
    if isinstance(value, list):
        return tuple(_from_json(item) for item in value)
    return value
