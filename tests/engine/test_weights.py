"""The torch-free weights reader refuses, in one sentence (exit 4), anything but the CLSM's finite floats."""

import hashlib
import json

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from clsm_cli.engine.load import load_engine
from clsm_cli.engine.weights import clsm_weight_shapes, read_clsm_weights
from clsm_cli.errors import EXIT_MODEL, ModelError


def test_the_shapes_from_the_config_are_the_torch_state_dict(tiny_torch_model):
    expected = {name: tuple(tensor.shape) for name, tensor in tiny_torch_model.state_dict().items()}
    assert clsm_weight_shapes(tiny_torch_model.config) == expected


def test_the_shipped_weights_read_as_float32():
    loaded = load_engine(None, engine="numpy")
    record = loaded.metadata
    weights = read_clsm_weights(loaded.directory, loaded.config, record["weights_sha256"])
    assert sum(array.size for array in weights.values()) == record["parameter_count"]
    assert {array.dtype for array in weights.values()} == {np.dtype(np.float32)}


def _copy_with(tiny_model_dir, tmp_path, change) -> str:
    """A copy of the tiny model whose weights ``change`` edits (digest check off: it tests content)."""
    arrays = load_file(str(tiny_model_dir / "model.safetensors"))
    change(arrays)
    folder = tmp_path / "edited"
    folder.mkdir()
    save_file(arrays, str(folder / "model.safetensors"))
    record = json.loads((tiny_model_dir / "config.json").read_text())
    record.pop("weights_sha256")
    (folder / "config.json").write_text(json.dumps(record))
    return str(folder)


def _set(name, value):
    def change(arrays):
        arrays[name] = value(arrays[name])

    return change


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_set("decoder.output.bias", lambda a: np.where(np.arange(a.size) == 3, np.nan, a).astype(a.dtype)), "NaN or infinite values"),
        (_set("flow.couplings.0.scale_net.0.weight", lambda a: np.full_like(a, np.inf)), "NaN or infinite values"),
        (_set("decoder.output.bias", lambda a: a.astype(np.float64)), "as float64"),
        (_set("decoder.output.bias", lambda a: a.astype(np.int32)), "as int32"),
        (_set("decoder.output.bias", lambda a: a[:-1]), r"decoder.output.bias: \(31,\) instead of \(32,\)"),
        (lambda arrays: arrays.pop("encoder.head.mean.0.bias"), "missing encoder.head.mean.0.bias"),
        (lambda arrays: arrays.update(extra=np.zeros(2, np.float32)), "unexpected extra"),
    ],
    ids=["nan", "inf", "float64", "int32", "shape", "missing", "unexpected"],
)
def test_broken_weights_are_refused_with_one_sentence(tiny_model_dir, tmp_path, change, message):
    with pytest.raises(ModelError, match=message) as refused:
        load_engine(_copy_with(tiny_model_dir, tmp_path, change), engine="numpy")
    assert refused.value.exit_code == EXIT_MODEL and "\n" not in str(refused.value)


def test_half_precision_weights_load_as_float32(tiny_model_dir, tmp_path):
    folder = _copy_with(tiny_model_dir, tmp_path, lambda arrays: arrays.update({k: v.astype(np.float16) for k, v in arrays.items()}))
    loaded = load_engine(folder, engine="numpy")
    assert loaded.engine.decoder.output.weight_t.dtype == np.float32
    # Without a recorded digest, provenance gets the file's own.
    assert loaded.sha256 == hashlib.sha256((tmp_path / "edited" / "model.safetensors").read_bytes()).hexdigest()[:16]


def test_weights_that_do_not_match_the_recorded_digest_are_refused(tiny_model_dir, tmp_path):
    folder = tmp_path / "replaced"
    folder.mkdir()
    (folder / "config.json").write_text((tiny_model_dir / "config.json").read_text())
    arrays = load_file(str(tiny_model_dir / "model.safetensors"))
    arrays["decoder.output.bias"] = arrays["decoder.output.bias"] + 1
    save_file(arrays, str(folder / "model.safetensors"))
    with pytest.raises(ModelError, match="do not match its config.json"):
        load_engine(str(folder), engine="numpy")


@pytest.mark.parametrize("content", [b"", b"not a safetensors file at all"], ids=["empty", "garbage"])
def test_unreadable_weights_are_refused(tiny_model_dir, tmp_path, content):
    folder = _copy_with(tiny_model_dir, tmp_path, lambda arrays: None)
    (tmp_path / "edited" / "model.safetensors").write_bytes(content)
    with pytest.raises(ModelError, match="not a readable safetensors file"):
        load_engine(folder, engine="numpy")
