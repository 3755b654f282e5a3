"""The models under evaluation: loading them, and what each generates for a batch of windows.

- CLSM: two prior samples w₁, w₂ ~ p(w | x_C, τ) and the series linear between them in W space,
  z(α) = f⁻¹((1 − α) w₁ + α w₂) (eq. 7), all 9 points decoded by argmax as one batch;
- VAE: two z ~ N(0, I) and the series linear in z (eq. 10), decoded the same way;
- ARNN / ARNN_T: two samples at temperature 1.0;
- reconstruction (CLSM, VAE): the posterior mean decoded by argmax, free-running.
The latent maths (sampling around a prior, interpolating) is ``engine/latent.py``'s, on numpy
arrays: tensors are converted at this boundary, so evaluation and editing share one copy. Which
model is which comes from the model registry (``models/registry.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

from clsm_cli.engine.latent import interpolate_w, prior_sample_w
from clsm_cli.errors import ModelError, UsageError
from clsm_cli.eval.metrics import INTERPOLATION_DIVISIONS
from clsm_cli.models.registry import KINDS, kind_of_config

FINEST_DIVISIONS = max(INTERPOLATION_DIVISIONS)  # 8: one series per window holds every J
ARNN_SAMPLES = 2  # "a random sampling of two points was performed per each context"
ARNN_TEMPERATURE = 1.0
DEFAULT_BATCH_SIZE = 512  # sequences per forward pass

# Row families, as the paper names them (the registry's paper names).
CLSM, VAE, ARNN, ARNN_T = (KINDS[name].paper_name for name in ("clsm", "vae", "arnn", "arnn-t"))
GENERATOR_FAMILIES = {kind.paper_name: kind for kind in KINDS.values() if kind.generates}
LATENT_FAMILIES = tuple(name for name, kind in GENERATOR_FAMILIES.items() if kind.has_latent)
MODEL_FAMILIES = tuple(GENERATOR_FAMILIES)


@dataclass
class EvalModel:
    """A loaded model to evaluate, with the name its rows carry."""

    name: str
    family: str  # the paper's name of its kind: CLSM, VAE, ARNN or ARNN_T
    model: Any  # a torch.nn.Module in eval mode
    metadata: dict = field(default_factory=dict)

    @property
    def has_latent(self) -> bool:
        return self.family in LATENT_FAMILIES

    @property
    def has_flow(self) -> bool:
        """The CLSM's prior lives in W and reaches z through the flow; the VAE's z is N(0, I)."""
        return self.family == CLSM


def family_of(kind: str, config: Any = None) -> str:
    """The paper's name for a model kind ("arnn" trained on target-set constraints is ARNN_T)."""
    model_kind = kind_of_config(config) if config is not None else KINDS.get(kind)
    if model_kind is None or not model_kind.generates:
        raise UsageError(f"a {kind!r} model cannot be evaluated as a generator; give CLSM, VAE, ARNN or ARNN_T models")
    return model_kind.paper_name


def device_of(model: Any):
    import torch

    for parameter in model.parameters():
        return parameter.device
    return torch.device("cpu")


def chunks(count: int, size: int):
    for start in range(0, count, size):
        yield slice(start, min(start + size, count))


def decode(model: Any, tokens, target_start: int, target_length: int, z, batch_size: int, decoding=None, uniforms=None) -> np.ndarray:
    """model.decode over row chunks of (M, K) tokens and (M, z_dim) latents -> (M, L) uint8.

    The one call into the models' decoders: argmax unless a CLSM ``decoding`` is given with its
    (M, L) sampling ``uniforms`` (drawn as ``sampling.py`` describes)."""
    def options(rows):
        return {} if decoding is None else {"decoding": decoding, "uniforms": uniforms[rows]}

    parts = [
        model.decode(tokens[rows], target_start, target_length, z[rows], **options(rows)).cpu().numpy()
        for rows in chunks(tokens.shape[0], batch_size)
    ]
    return np.concatenate(parts).astype(np.uint8)


def latent_series(
    member: EvalModel, windows: np.ndarray, target_start: int, target_length: int, seed: int, batch_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """One argmax-decoded interpolation series per window between two prior samples, (B, J + 1, L),
    and each window's reconstruction from its posterior mean, (B, L), decoded in the same batch."""
    import torch

    model, device = member.model, device_of(member.model)
    tokens = torch.as_tensor(windows, dtype=torch.long, device=device)  # (B, K)
    num_windows = tokens.shape[0]
    z_dim = int(model.config.z_dim)
    noise = torch.randn(num_windows, 2, z_dim, generator=torch.Generator().manual_seed(seed)).numpy()  # (B, 2, z)
    if member.has_flow:
        w_mean, w_logvar = (value.float().cpu().numpy() for value in model.prior(tokens, target_start, target_length))
        ends = [prior_sample_w(w_mean[row], w_logvar[row], noise[row]) for row in range(num_windows)]  # w1, w2 in W
    else:
        ends = list(noise)  # z1, z2 ~ N(0, I)
    path = np.concatenate([interpolate_w(end[0], end[1], FINEST_DIVISIONS) for end in ends])  # (B*(J+1), z)
    path = torch.from_numpy(path).to(device)
    z_path = model.flow.inverse(path) if member.has_flow else path  # eq. 7: linear in W, not in Z
    z = torch.cat([z_path, posterior_means(member, tokens, target_start, target_length)])  # (B*(J+1) + B, z)
    points = FINEST_DIVISIONS + 1
    all_tokens = torch.cat([tokens.repeat_interleave(points, dim=0), tokens])
    decoded = decode(model, all_tokens, target_start, target_length, z, batch_size)
    series = decoded[: num_windows * points].reshape(num_windows, points, target_length)
    return series, decoded[num_windows * points :]


def arnn_samples(
    member: EvalModel, windows: np.ndarray, target_start: int, target_length: int, seed: int, batch_size: int
) -> np.ndarray:
    """(B, 2, L): two multinomial samples at temperature 1.0 per window."""
    import torch

    model, device = member.model, device_of(member.model)
    generator = torch.Generator(device=device).manual_seed(seed)
    tokens = torch.as_tensor(windows, dtype=torch.long, device=device).repeat_interleave(ARNN_SAMPLES, dim=0)
    parts = [
        model.sample(tokens[rows], target_start, target_length, temperature=ARNN_TEMPERATURE, generator=generator)
        .cpu()
        .numpy()
        for rows in chunks(tokens.shape[0], batch_size)
    ]
    return np.concatenate(parts).astype(np.uint8).reshape(len(windows), ARNN_SAMPLES, target_length)


def posterior_means(member: EvalModel, tokens, target_start: int, target_length: int):
    """(B, z_dim) posterior means: the CLSM's given τ, the VAE's of the whole window."""
    if member.has_flow:
        mean, _ = member.model.posterior(tokens, target_start, target_length)
    else:
        mean, _ = member.model.posterior(tokens)
    return mean


def reconstruct(
    member: EvalModel, windows: np.ndarray, target_start: int, target_length: int, batch_size: int = DEFAULT_BATCH_SIZE
) -> np.ndarray:
    """(B, L): each window's target decoded by argmax from its posterior mean (CLSM or VAE)."""
    import torch

    device = device_of(member.model)
    outputs = []
    with torch.inference_mode():
        for rows in chunks(len(windows), batch_size):
            tokens = torch.as_tensor(windows[rows], dtype=torch.long, device=device)
            mean = posterior_means(member, tokens, target_start, target_length)
            outputs.append(decode(member.model, tokens, target_start, target_length, mean, batch_size))
    return np.concatenate(outputs) if outputs else np.zeros((0, target_length), dtype=np.uint8)


def lm_token_nll(lm: Any, windows: np.ndarray, batch_size: int = DEFAULT_BATCH_SIZE) -> np.ndarray:
    """(M, K) float64: -log p(x_k | x_<k) in nats for every token of every window under the LM."""
    import torch

    device = device_of(lm)
    parts = []
    with torch.inference_mode():
        for rows in chunks(len(windows), batch_size):
            tokens = torch.as_tensor(windows[rows], dtype=torch.long, device=device)
            parts.append(lm.token_nll(tokens).double().cpu().numpy())
    return np.concatenate(parts) if parts else np.zeros((0, windows.shape[1]))


# --- loading ---------------------------------------------------------------------------------------


def load_eval_model(name_or_path: str, device: Any, name: Optional[str] = None) -> EvalModel:
    """Load a checkpoint (by installed name or folder) for evaluation and name its rows."""
    from clsm_cli.checkpoint import load_model, resolve_model

    loaded = load_model(resolve_model(name_or_path), device)
    return EvalModel(
        name=name or str(loaded.metadata.get("name") or Path(loaded.directory).name),
        family=family_of(loaded.kind, loaded.config),
        model=loaded.model,
        metadata=describe_loaded(name_or_path, loaded),
    )


def load_lm(name_or_path: str, device: Any) -> tuple[Any, dict]:
    """Load the evaluation LM (and its description); refuse any other kind of model."""
    from clsm_cli.checkpoint import load_model, resolve_model

    loaded = load_model(resolve_model(name_or_path), device)
    if kind_of_config(loaded.config).generates:
        raise ModelError(
            f"--lm needs a language model (trained with `clsm train lm`), but {name_or_path} is a {loaded.kind} model"
        )
    return loaded.model, describe_loaded(name_or_path, loaded)


def check_grids(data_grid: Any, lm_model: Any, members: Any) -> None:
    """Every model and the LM read the data's grid (16ths or triplets): a UsageError (exit 2) naming
    the first that does not, since its tokens would mean something else to it."""
    readers = ([("the LM", lm_model)] if lm_model is not None else []) + [
        (f"model {member.name}", member.model) for member in members]
    for who, model in readers:
        grid = model.config.grid
        if grid != data_grid:
            raise UsageError(
                f"{who} reads the {grid.encoding} grid but the data is on the {data_grid.encoding} grid; "
                f"evaluate with models (and an LM, `clsm train lm`) trained on data of the {data_grid.encoding} grid"
            )


def describe_loaded(name_or_path: str, loaded: Any) -> dict:
    """What the reproducibility record keeps about a loaded checkpoint."""
    from clsm_cli.models.config import config_to_dict

    record = loaded.metadata if isinstance(loaded.metadata, dict) else {}
    return {
        "given_as": str(name_or_path),
        "directory": str(Path(loaded.directory).resolve()),
        "kind": loaded.kind,
        "config": config_to_dict(loaded.config),
        "weights_sha256": record.get("weights_sha256"),
        "parameter_count": record.get("parameter_count"),
        "created": record.get("created"),
        "clsm_version": record.get("clsm_version"),
        "training": record.get("training", {}),
    }
