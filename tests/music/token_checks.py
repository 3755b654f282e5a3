"""Token checks only the tests need (the package keeps its token code in ``clsm_cli/music/tokens.py``)."""

from __future__ import annotations

import numpy as np

from clsm_cli.constants import FIRST_PITCH_TOKEN, HOLD_TOKEN, MAX_PITCH, MIN_PITCH, NUM_MUSIC_TOKENS
from clsm_cli.music.tokens import TOKEN_DTYPE


def is_canonical(tokens: np.ndarray) -> bool:
    return len(tokens) == 0 or int(tokens[0]) != HOLD_TOKEN


def is_music_tokens(tokens: np.ndarray) -> bool:
    """True when every token is a pitch, R or __ (no model specials)."""
    return bool(np.all(np.asarray(tokens) < NUM_MUSIC_TOKENS))


def transpose_tokens(tokens: np.ndarray, semitones: int) -> np.ndarray | None:
    """Tokens shifted by ``semitones``, or None if any pitch would leave the token range."""
    tokens = np.asarray(tokens)
    is_pitch = tokens < FIRST_PITCH_TOKEN + (MAX_PITCH - MIN_PITCH + 1)
    shifted = tokens.astype(np.int16) + np.where(is_pitch, semitones, 0)
    if np.any(is_pitch & ((shifted < FIRST_PITCH_TOKEN) | (shifted > FIRST_PITCH_TOKEN + MAX_PITCH - MIN_PITCH))):
        return None
    return shifted.astype(TOKEN_DTYPE)
