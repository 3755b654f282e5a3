"""The torch engine: the reference CLSM (``models/clsm.py``) behind the numpy boundary of ``protocol.py``.

Used for ``--engine torch``, ``--device cuda``, and as the reference the numpy engine's parity
tests compare against. torch is imported when an engine is made, never when this module is.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

import numpy as np

from clsm_cli.engine.protocol import Gaussian, TargetSpan
from clsm_cli.sampling import Decoding, StepMask


class TorchEngine:
    """An :class:`~clsm_cli.engine.protocol.InferenceEngine` over a loaded torch CLSM in eval mode."""

    name = "torch"

    def __init__(self, model: Any, device: str):
        self.model = model.eval()
        self.device = device
        self.config = model.config

    @contextlib.contextmanager
    def _inference(self) -> Iterator[None]:
        """Inference mode, on one CPU thread: the steps are too small to share (the numpy engine's
        reason too), and on a busy machine torch's default threads made a 40-file batch 14x slower."""
        import torch

        threads = torch.get_num_threads()
        if self.device == "cpu":
            torch.set_num_threads(1)
        try:
            with torch.inference_mode():
                yield
        finally:
            torch.set_num_threads(threads)

    def prior(self, window: np.ndarray, target: TargetSpan) -> Gaussian:
        with self._inference():
            mean, logvar = self.model.prior(self._tokens(window), target.start, target.length)  # (1, z_dim)
        return _gaussian(mean, logvar)

    def posterior(self, window: np.ndarray, target: TargetSpan) -> Gaussian:
        with self._inference():
            mean, logvar = self.model.posterior(self._tokens(window), target.start, target.length)  # (1, z_dim)
        return _gaussian(mean, logvar)

    def flow_forward(self, z: np.ndarray) -> np.ndarray:
        with self._inference():
            w, _ = self.model.flow(self._latents(z))  # (n, z_dim)
        return _numpy(w)

    def flow_inverse(self, w: np.ndarray) -> np.ndarray:
        with self._inference():
            return _numpy(self.model.flow.inverse(self._latents(w)))  # (n, z_dim)

    def decode(
        self, window: np.ndarray, target: TargetSpan, z: np.ndarray, decoding: Decoding, uniforms: np.ndarray | None,
        step_mask: StepMask | None = None,
    ) -> np.ndarray:
        """(n, length) uint8 target tokens, one row per row of z; see ``InferenceEngine.decode``."""
        return self.decode_with_logits(window, target, z, decoding, uniforms, step_mask)[0]

    def decode_with_logits(
        self, window: np.ndarray, target: TargetSpan, z: np.ndarray, decoding: Decoding, uniforms: np.ndarray | None,
        step_mask: StepMask | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """``decode`` plus the (n, length, C) float32 logits each token was drawn from (for parity tests)."""
        with self._inference():
            tokens, logits = self.model.decode(
                self._tokens(window), target.start, target.length, self._latents(z), decoding, uniforms, return_logits=True,
                step_mask=step_mask,
            )  # (n, length), (n, length, C)
        return tokens.cpu().numpy().astype(np.uint8), _numpy(logits)

    def teacher_forced_logits(self, window: np.ndarray, target: TargetSpan, z: np.ndarray) -> np.ndarray:
        """(n, length, C) float32 logits of the windows' own target tokens; see ``InferenceEngine``."""
        import torch

        rows = np.asarray(window).reshape(-1, self.config.window_steps)  # (1 or n, K)
        with self._inference():
            tokens = torch.cat([self._tokens(row) for row in rows])  # (1 or n, K)
            logits = self.model.decode_logits(tokens, target.start, target.length, self._latents(z))  # (n, tl, C)
        return _numpy(logits)

    def _tokens(self, window: np.ndarray):
        """One window (window_steps,) of music tokens -> a (1, window_steps) LongTensor on the device."""
        import torch

        window = np.asarray(window)
        if window.shape != (self.config.window_steps,):
            raise ValueError(f"a window holds {self.config.window_steps} tokens, got shape {window.shape}")
        if window.size and not self.config.grid.is_music_window(window):
            raise ValueError("a window holds music tokens only (pitches, R, __, and 3: on the triplet grid)")
        return torch.as_tensor(window.astype(np.int64), device=self.device).unsqueeze(0)

    def _latents(self, rows: np.ndarray):
        """Latent rows (n, z_dim) -> a float32 tensor on the device."""
        import torch

        rows = np.asarray(rows, dtype=np.float32)
        if rows.ndim != 2 or rows.shape[1] != self.config.z_dim:
            raise ValueError(f"latents must be rows of {self.config.z_dim} values, got shape {rows.shape}")
        return torch.as_tensor(rows, device=self.device)


def _gaussian(mean, logvar) -> Gaussian:
    return Gaussian(mean=_numpy(mean)[0], logvar=_numpy(logvar)[0])  # (z_dim,) each


def _numpy(tensor) -> np.ndarray:
    return tensor.detach().float().cpu().numpy().astype(np.float32, copy=False)
