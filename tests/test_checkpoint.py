"""Checkpoints: save -> load gives the same model; every broken folder is a ModelError (exit 4)."""

import json
import pickle
import re

import pytest
import torch

from clsm_cli import checkpoint
from clsm_cli.checkpoint import (
    CONFIG_FILE,
    DEFAULT_MODEL_NAME,
    FORMAT_VERSION,
    WEIGHTS_FILE,
    list_installed_models,
    load_model,
    resolve_model,
    save_model,
    user_model_dir,
    user_models_dir,
)
from clsm_cli.errors import EXIT_MODEL, ModelError
from clsm_cli.models.config import preset_config
from clsm_cli.models.registry import build_model


def _tiny(kind="clsm", seed=0):
    torch.manual_seed(seed)
    return build_model(preset_config(kind, "tiny")).eval()


def _windows(batch=2):
    return torch.randint(0, 31, (batch, 128), generator=torch.Generator().manual_seed(0))


@pytest.fixture
def saved(tmp_path):
    model = _tiny()
    directory = save_model(model, tmp_path / "melody", training={"steps": 12, "data": "synthetic"}, name="melody")
    return model, directory


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    """Keep user models inside the test's folder."""
    monkeypatch.setenv("CLSM_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_save_then_load_gives_identical_outputs(saved):
    model, directory = saved
    loaded = load_model(directory)
    assert loaded.kind == "clsm" and loaded.config == model.config and loaded.directory == directory
    assert not loaded.model.training
    tokens = _windows()
    z = torch.randn(2, model.config.z_dim)
    assert torch.equal(loaded.model.decode_logits(tokens, 32, 32, z), model.decode_logits(tokens, 32, 32, z))
    for a, b in zip(loaded.model.prior(tokens, 32, 32), model.prior(tokens, 32, 32)):
        assert torch.equal(a, b)


def test_config_json_is_self_describing(saved):
    _, directory = saved
    record = json.loads((directory / CONFIG_FILE).read_text())
    assert record["format_version"] == FORMAT_VERSION and record["kind"] == "clsm" and record["name"] == "melody"
    assert record["vocabulary_hash"] == checkpoint.vocabulary_hash()
    assert record["training"] == {"steps": 12, "data": "synthetic"}
    assert record["parameter_count"] == sum(p.numel() for p in _tiny().parameters())
    assert record["config"]["z_dim"] == 8 and record["clsm_version"] and record["created"]
    assert record["config"]["grid_encoding"] == "16th"  # the grid the model reads
    assert sorted(path.name for path in directory.iterdir()) == [CONFIG_FILE, WEIGHTS_FILE]  # no temp files left


@pytest.mark.parametrize("kind", ["vae", "arnn", "arnn-t", "lm"])
def test_every_kind_round_trips(tmp_path, kind):
    model = _tiny(kind)
    loaded = load_model(save_model(model, tmp_path / kind))
    assert loaded.config == model.config
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.model.state_dict()[key], value)


def test_float16_weights_load_as_float32(tmp_path):
    model = _tiny()
    directory = save_model(model, tmp_path / "half", dtype=torch.float16)
    loaded = load_model(directory)
    assert json.loads((directory / CONFIG_FILE).read_text())["weights_dtype"] == "float16"
    parameter = next(loaded.model.parameters())
    assert parameter.dtype == torch.float32
    torch.testing.assert_close(parameter, next(model.parameters()), rtol=1e-3, atol=1e-3)


def test_saving_again_replaces_the_model_and_keeps_other_files(saved):
    _, directory = saved
    (directory / "optimizer.pt.note").write_text("trainer state")
    other = _tiny(seed=1)
    save_model(other, directory)
    loaded = load_model(directory)
    first = next(iter(other.state_dict()))
    assert torch.equal(loaded.model.state_dict()[first], other.state_dict()[first])
    assert (directory / "optimizer.pt.note").exists()


def test_load_accepts_a_file_inside_the_folder(saved):
    _, directory = saved
    assert load_model(directory / WEIGHTS_FILE).directory == directory


def _edit_record(directory, **changes):
    path = directory / CONFIG_FILE
    record = json.loads(path.read_text())
    record.update(changes)
    path.write_text(json.dumps(record))


def _break_missing_folder(directory):
    return directory.parent / "nowhere"


def _break_no_config(directory):
    (directory / CONFIG_FILE).unlink()
    return directory


def _break_no_weights(directory):
    (directory / WEIGHTS_FILE).unlink()
    return directory


def _break_truncated_weights(directory):
    data = (directory / WEIGHTS_FILE).read_bytes()
    (directory / WEIGHTS_FILE).write_bytes(data[: len(data) // 2])
    return directory


def _break_truncated_weights_without_digest(directory):
    _break_truncated_weights(directory)
    _edit_record(directory, weights_sha256=None)
    return directory


def _break_pickled_weights(directory):
    (directory / WEIGHTS_FILE).write_bytes(pickle.dumps({"weight": [1.0, 2.0]}))
    _edit_record(directory, weights_sha256=None)
    return directory


def _break_foreign_safetensors(directory):
    from safetensors.torch import save_file

    save_file({"something.else": torch.zeros(3)}, str(directory / WEIGHTS_FILE))
    _edit_record(directory, weights_sha256=None)
    return directory


def _break_format_version(directory):
    _edit_record(directory, format_version=FORMAT_VERSION + 1)
    return directory


def _break_vocabulary(directory):
    _edit_record(directory, vocabulary_hash="0123456789abcdef")
    return directory


def _break_config_shapes(directory):
    record = json.loads((directory / CONFIG_FILE).read_text())
    record["config"]["d_model"] = 64
    record["config"]["num_heads"] = 4
    _edit_record(directory, config=record["config"])
    return directory


def _break_config_kind(directory):
    record = json.loads((directory / CONFIG_FILE).read_text())
    _edit_record(directory, config={**record["config"], "kind": "gan"})
    return directory


def _break_json(directory):
    (directory / CONFIG_FILE).write_text("{ not json")
    return directory


def _break_not_a_clsm_json(directory):
    (directory / CONFIG_FILE).write_text(json.dumps({"architectures": ["GPT2"]}))
    return directory


BREAKAGES = [
    (_break_missing_folder, "does not exist"),
    (_break_no_config, "no config.json"),
    (_break_no_weights, "weights are missing"),
    (_break_truncated_weights, "truncated"),
    (_break_truncated_weights_without_digest, "not a readable safetensors"),
    (_break_pickled_weights, "not a readable safetensors"),
    (_break_foreign_safetensors, "do not fit its config"),
    (_break_format_version, "checkpoint format"),
    (_break_vocabulary, "different vocabulary"),
    (_break_config_shapes, "do not fit its config"),
    (_break_config_kind, "unknown model kind"),
    (_break_json, "not readable JSON"),
    (_break_not_a_clsm_json, "no format_version"),
]


@pytest.mark.parametrize("breakage,message", BREAKAGES, ids=[b.__name__.removeprefix("_break_") for b, _ in BREAKAGES])
def test_broken_checkpoints_are_model_errors(saved, breakage, message):
    _, directory = saved
    target = breakage(directory)
    with pytest.raises(ModelError) as caught:
        load_model(target)
    assert caught.value.exit_code == EXIT_MODEL
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)  # one sentence, no traceback text


def test_resolve_and_list_models(tmp_path, home):
    user_dir = user_models_dir()
    assert user_dir == home / "models"
    save_model(_tiny(), user_model_dir("mine"))
    assert resolve_model("mine") == user_dir / "mine"
    path = save_model(_tiny("vae"), tmp_path / "elsewhere" / "vae-model")
    assert resolve_model(str(path)) == path
    installed = {model.name: model for model in list_installed_models() if model.source == "user"}
    assert installed["mine"].kind == "clsm" and installed["mine"].config == _tiny().config
    assert installed["mine"].problem is None
    (user_dir / "broken").mkdir()
    (user_dir / "broken" / CONFIG_FILE).write_text("{")
    broken = [model for model in list_installed_models() if model.name == "broken"]
    assert broken and broken[0].problem and broken[0].config is None
    with pytest.raises(ModelError, match="mine") as caught:
        resolve_model("not-there")
    assert "no installed model is called 'not-there'" in str(caught.value)
    with pytest.raises(ModelError, match="no model folder"):
        resolve_model(str(tmp_path / "missing" / "folder"))


def test_default_model_name_resolves_or_explains(home):
    try:
        directory = resolve_model(None)
    except ModelError as error:
        assert DEFAULT_MODEL_NAME in str(error) and "not installed" in str(error)
    else:
        assert directory.name == DEFAULT_MODEL_NAME


def test_user_model_names_are_single_words():
    from clsm_cli.errors import UsageError

    with pytest.raises(UsageError):
        user_model_dir("../escape")


# Every config value is checked on load (issue 19 item 5) ------------------------------------------


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("num_heads", 0, "num_heads must be a whole number from 1 to 256, got 0"),
        ("d_model", "128", "d_model must be a whole number from 1 to 8192, got '128'"),
        ("lstm_layers", 0, "lstm_layers must be a whole number from 1 to 64"),
        ("dropout", 2, "dropout must be a number from 0 up to"),
        ("steps_per_bar", 0, "steps_per_bar must be a whole number from 1 to 512"),
        ("meters", [[4]], "meters must be a non-empty list of [numerator, denominator] pairs"),
        ("meters", "4/4", "meters must be a non-empty list"),
        ("decoding_temperature", "hot", "decoding_temperature must be a number from 0 to 100"),
        ("decoding_top_p", None, "decoding_top_p must be a number above 0 and at most 1, got None"),
        ("target_lengths", [16, 20], "target_lengths must be whole bars of 16 steps"),
        ("vocab_size", 40, "vocab_size must be 35"),
    ],
)
def test_config_values_out_of_range_are_model_errors_naming_the_field(saved, field, value, message):
    _, directory = saved
    record = json.loads((directory / CONFIG_FILE).read_text())
    _edit_record(directory, config={**record["config"], field: value})
    with pytest.raises(ModelError, match=re.escape(message)) as caught:
        load_model(directory)
    assert caught.value.exit_code == EXIT_MODEL and "\n" not in caught.value.message
    with pytest.raises(ModelError, match=re.escape(message)):
        checkpoint.read_model_files(directory)


def test_steps_per_bar_must_equal_every_listed_meters_steps(saved):
    _, directory = saved
    record = json.loads((directory / CONFIG_FILE).read_text())
    grid = dict(steps_per_bar=12, window_steps=96, target_lengths=[12, 24, 36, 48])
    _edit_record(directory, config={**record["config"], **grid})  # still lists 4/4 and 2/2
    with pytest.raises(ModelError, match="steps_per_bar \\(12\\) must equal the steps of every listed meter, but a 4/4 bar has 16"):
        load_model(directory)
    _edit_record(directory, config={**record["config"], **grid, "meters": [[3, 4]]})
    record_config = checkpoint.read_model_files(directory)[1]
    assert record_config.steps_per_bar == 12 and record_config.meters == ((3, 4),)


# Weight values and dtypes are checked (issue 19 item 6) -------------------------------------------


def _rewrite_weights(directory, change):
    """Replace the weights by ``change(state)`` and record their digest, so only the values are wrong."""
    import hashlib

    from safetensors.torch import load_file, save_file

    state = load_file(str(directory / WEIGHTS_FILE))
    save_file(change(state), str(directory / WEIGHTS_FILE))
    _edit_record(directory, weights_sha256=hashlib.sha256((directory / WEIGHTS_FILE).read_bytes()).hexdigest())


def _first_filled(state, value):
    name = sorted(state)[0]
    state[name] = torch.full_like(state[name], value)
    return state


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda state: _first_filled(state, float("nan")), "are not finite"),
        (lambda state: _first_filled(state, float("inf")), "are not finite"),
        (lambda state: _first_filled(state, 1e30), "implausibly large"),
        (lambda state: {k: v.to(torch.int8) for k, v in state.items()}, "as I8, but the model declares float32"),
        (lambda state: {k: v.to(torch.int32) for k, v in state.items()}, "as I32, but the model declares float32"),
        (lambda state: {k: v.to(torch.float8_e4m3fn) for k, v in state.items()}, "as F8_E4M3, but the model declares float32"),
        (lambda state: {k: v.to(torch.float16) for k, v in state.items()}, "as F16, but the model declares float32"),
    ],
)
def test_weights_of_another_dtype_or_not_finite_are_model_errors(saved, change, message):
    _, directory = saved
    _rewrite_weights(directory, change)
    with pytest.raises(ModelError, match=message):
        load_model(directory)
    with pytest.raises(ModelError, match=message):
        checkpoint.read_model_files(directory)


def test_read_model_files_gives_numpy_tensors_without_torch_models(saved):
    import numpy as np

    model, directory = saved
    record, config, tensors = checkpoint.read_model_files(directory)
    assert config == model.config and record["kind"] == "clsm"
    state = model.state_dict()
    assert tensors.keys() == state.keys()
    assert all(isinstance(value, np.ndarray) and np.array_equal(value, state[key].numpy()) for key, value in tensors.items())


def test_a_model_with_non_finite_weights_is_never_saved(tmp_path):
    model = _tiny()
    with torch.no_grad():
        next(model.parameters()).fill_(float("nan"))
    with pytest.raises(ModelError, match="not finite"):
        save_model(model, tmp_path / "diverged")
    assert not (tmp_path / "diverged" / WEIGHTS_FILE).exists()


def test_a_broken_model_is_listed_with_its_problem_beside_the_good_ones(saved, home):
    model, _ = saved
    save_model(model, user_models_dir() / "good")
    broken = save_model(model, user_models_dir() / "bad-heads")
    record = json.loads((broken / CONFIG_FILE).read_text())
    _edit_record(broken, config={**record["config"], "num_heads": 0})
    listed = {installed.name: installed for installed in list_installed_models()}
    assert listed["good"].problem is None and listed["good"].kind == "clsm"
    assert "num_heads" in listed["bad-heads"].problem
