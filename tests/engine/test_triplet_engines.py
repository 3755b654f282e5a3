"""A tiny CLSM on the triplet grid: saved and loaded by both engines, which decode the same legal
tokens (``3:`` only on a quarter's first step, no special) from the same logits."""

import numpy as np
import pytest

from clsm_cli.constants import HOLD_TOKEN, TRIPLET_TOKEN
from clsm_cli.engine.protocol import TargetSpan
from clsm_cli.music.triplets import decode_fine_tokens
from clsm_cli.sampling import ARGMAX, Decoding
from clsm_cli.timebase import TRIPLET_GRID


@pytest.fixture(scope="module")
def triplet_engines(tmp_path_factory):
    import torch

    from clsm_cli.checkpoint import save_model
    from clsm_cli.engine.load import load_engine
    from clsm_cli.models.config import preset_config, with_grid
    from clsm_cli.models.registry import build_model

    torch.manual_seed(4)
    model = build_model(with_grid(preset_config("clsm", "tiny"), TRIPLET_GRID)).eval()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.1 * torch.randn_like(parameter))
        model.decoder.output.bias[TRIPLET_TOKEN] += 3.0  # a decoder keen on markers: the mask must hold them
    folder = save_model(model, tmp_path_factory.mktemp("models") / "tiny-triplet")
    return load_engine(str(folder), "numpy", "cpu"), load_engine(str(folder), "torch", "cpu")


def triplet_window(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    window = rng.integers(0, 32, 128).astype(np.uint8)
    window[rng.choice(np.arange(0, 128, 4), 10, replace=False)] = TRIPLET_TOKEN
    window[1] = window[1] if window[0] != TRIPLET_TOKEN or window[1] != HOLD_TOKEN else 0
    window[0] = 0 if window[0] == HOLD_TOKEN else window[0]
    return window


@pytest.mark.parametrize("decoding", [ARGMAX, Decoding(1.0, 1.0), Decoding(1.5, 0.95)], ids=str)
def test_both_engines_decode_the_same_legal_triplet_tokens(triplet_engines, decoding):
    numpy_engine, torch_engine = (loaded.engine for loaded in triplet_engines)
    assert numpy_engine.config.grid == TRIPLET_GRID and numpy_engine.config.num_music_tokens == 36
    target = TargetSpan(32, 32)
    rng = np.random.default_rng(7)
    z = rng.standard_normal((16, numpy_engine.config.z_dim)).astype(np.float32)
    uniforms = None if decoding.is_argmax else rng.random((16, target.length))
    window = triplet_window(1)
    ours = numpy_engine.decode(window, target, z, decoding, uniforms)
    reference = torch_engine.decode(window, target, z, decoding, uniforms)
    assert np.array_equal(ours, reference)
    markers = np.argwhere(ours == TRIPLET_TOKEN)
    assert len(markers) and set((markers[:, 1] % 4).tolist()) == {0}  # the model wants markers; only legal ones
    assert ((ours < 32) | (ours == TRIPLET_TOKEN)).all()
    for row in ours:
        decode_fine_tokens(row)  # every drawn sequence decodes


def test_the_editing_commands_refuse_a_triplet_model_in_one_sentence(triplet_engines, run_clsm, tmp_path):
    from pathlib import Path

    from clsm_cli.errors import EXIT_MODEL

    folder = triplet_engines[0].directory
    tune = Path(__file__).resolve().parent.parent / "fixtures" / "triplets" / "swung_hornpipe.mid"
    result = run_clsm("infill", tune, "--bars", "2", "--model", folder, "--out", tmp_path, "--no-preview")
    assert result.exit_code == EXIT_MODEL
    assert "reads the triplet grid" in result.output and "Traceback" not in result.output
