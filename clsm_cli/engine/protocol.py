"""The boundary between the editing code and whatever runs the model.

The editing commands call an :class:`InferenceEngine` and never know which one answers: the numpy
engine (default, no torch) or the torch adapter (``--engine torch``, ``--device cuda``). Everything
crossing the boundary is numpy: a window is one canonical ``(window_steps,)`` array of music tokens,
latents are float32 rows, and the random numbers come from the caller (``engine/draws.py``), so both
engines give the same notes for the same seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from clsm_cli.sampling import Decoding, StepMask


@dataclass(frozen=True)
class TargetSpan:
    """Where the target sits inside the window, in steps: ``window[start:start + length]``."""

    start: int
    length: int

    @property
    def end(self) -> int:
        return self.start + self.length


@dataclass(frozen=True)
class Gaussian:
    """A diagonal Gaussian: ``mean`` and ``logvar`` float32 (z_dim,)."""

    mean: np.ndarray
    logvar: np.ndarray


class InferenceEngine(Protocol):
    """Inference for one CLSM (paper section 2.3): what infill, interpolate and vary need."""

    name: str  # "numpy" or "torch"
    device: str  # "cpu" or "cuda"
    config: object  # the model's CLSMConfig

    def prior(self, window: np.ndarray, target: TargetSpan) -> Gaussian:
        """p(w | x_C, tau): the contextual prior, in the flow's W space."""

    def posterior(self, window: np.ndarray, target: TargetSpan) -> Gaussian:
        """q(z | x, tau): where the window's own target bars sit, in Z space."""

    def flow_forward(self, z: np.ndarray) -> np.ndarray:
        """w = f(z), rows (n, z_dim) -> (n, z_dim) float32."""

    def flow_inverse(self, w: np.ndarray) -> np.ndarray:
        """z = f^-1(w), rows (n, z_dim) -> (n, z_dim) float32."""

    def decode(
        self, window: np.ndarray, target: TargetSpan, z: np.ndarray, decoding: Decoding, uniforms: np.ndarray | None,
        step_mask: StepMask | None = None,
    ) -> np.ndarray:
        """x_T for each row of z (n, z_dim), left to right with a KV cache. (n, length) uint8

        ``uniforms`` (n, length) are the per-step numbers ``sampling.choose_tokens`` draws with
        (None for argmax); ``step_mask`` gives each step's allowed tokens from the tokens before it
        (the controls). The target positions of ``window`` are ignored.
        """

    def decode_with_logits(
        self, window: np.ndarray, target: TargetSpan, z: np.ndarray, decoding: Decoding, uniforms: np.ndarray | None,
        step_mask: StepMask | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """``decode`` and the (n, length, C) float32 logits each token was drawn from (to score it)."""

    def teacher_forced_logits(self, window: np.ndarray, target: TargetSpan, z: np.ndarray) -> np.ndarray:
        """Logits of x_T given the window's own target tokens, for each row of z. (n, length, C) float32

        ``window`` is one window (window_steps,) for every row of z, or one per row (n, window_steps).
        Step t's logits are what ``decode`` would draw token t from had it drawn the window's
        tokens before it: what ``sampling.anchor_uniforms`` inverts to reproduce a target.
        """
