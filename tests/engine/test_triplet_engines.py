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


HORNPIPE = __import__("pathlib").Path(__file__).resolve().parent.parent / "fixtures" / "triplets" / "swung_hornpipe.mid"


def infill_json(run_clsm, model_folder, engine, out, *extra):
    import json

    result = run_clsm("infill", HORNPIPE, "--bars", "2-3", "-n", "3", "--seed", "11", "--model", model_folder,
                      "--engine", engine, "--temperature", "1.2", "--json", "--no-preview", "--out", out, *extra)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_a_triplet_model_edits_a_triplet_tune_the_same_in_both_engines(triplet_engines, run_clsm, tmp_path):
    from clsm_cli.music.bars import BarRange, song_bars
    from clsm_cli.music.midi_read import read_midi

    folder = triplet_engines[0].directory
    by_numpy = infill_json(run_clsm, folder, "numpy", tmp_path / "numpy")
    by_torch = infill_json(run_clsm, folder, "torch", tmp_path / "torch")
    tokens = [output["target_tokens"] for output in by_numpy["outputs"]]
    assert tokens == [output["target_tokens"] for output in by_torch["outputs"]]  # token for token
    assert any("3:" in text for text in tokens)  # the model wrote triplets
    song = read_midi(HORNPIPE)
    first, end = BarRange(2, 3).tick_span(song_bars(song))
    for ours, theirs in zip(by_numpy["outputs"], by_torch["outputs"]):
        notes = [(n.start_tick, n.end_tick, n.pitch, n.velocity) for n in read_midi(ours["path"]).tracks[0].notes]
        assert notes == [(n.start_tick, n.end_tick, n.pitch, n.velocity) for n in read_midi(theirs["path"]).tracks[0].notes]
        outside = [note for note in notes if not first <= note[0] < end]
        assert outside == [(n.start_tick, n.end_tick, n.pitch, n.velocity) for n in song.tracks[0].notes
                           if not first <= n.start_tick < end]
        bars_text = ours["target_tokens"].split(" | ")
        for bar_index, bar_text in enumerate(bars_text):  # a triplet quarter's notes land on its thirds (+1 tick)
            names = bar_text.split()
            for quarter in range(4):
                slots = names[4 * quarter : 4 * quarter + 4]
                if slots[0] != "3:":
                    continue
                quarter_tick = first + bar_index * 1920 + quarter * 480
                onsets = {n[0] - quarter_tick for n in notes if quarter_tick <= n[0] < quarter_tick + 480}
                assert onsets <= {0, 1, 160, 161, 320, 321}, onsets


def test_vary_amount_0_with_a_triplet_model_writes_the_swung_bars_note_for_note(triplet_engines, run_clsm, tmp_path):
    import json

    from clsm_cli.music.midi_read import read_midi

    result = run_clsm("vary", HORNPIPE, "--bars", "2-3", "--amount", "0", "-n", "1", "--model",
                      triplet_engines[0].directory, "--json", "--no-preview", "--out", tmp_path)
    assert result.exit_code == 0, result.output
    (output,) = json.loads(result.stdout)["outputs"]
    assert "3:" in output["target_tokens"]  # the model saw the swing as triplets
    written = [(n.start_tick, n.end_tick, n.pitch, n.velocity) for n in read_midi(output["path"]).tracks[0].notes]
    assert written == [(n.start_tick, n.end_tick, n.pitch, n.velocity) for n in read_midi(HORNPIPE).tracks[0].notes]
