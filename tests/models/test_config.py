import pytest

from clsm_cli.constants import NUM_MUSIC_TOKENS, STEPS_PER_BAR, VOCAB_SIZE, WINDOW_STEPS
from clsm_cli.errors import EXIT_MODEL, ModelError
from clsm_cli.models.config import (
    PRESETS,
    TRAINABLE_KINDS,
    ARNNConfig,
    CLSMConfig,
    config_from_dict,
    config_to_dict,
    preset_config,
    with_decoding,
)
from clsm_cli.models.registry import KINDS, build_model, parameter_count

ALL = [(preset, kind) for preset in PRESETS for kind in TRAINABLE_KINDS]


@pytest.mark.parametrize("preset,kind", ALL)
def test_config_dict_round_trip(preset, kind):
    config = preset_config(kind, preset)
    data = config_to_dict(config)
    assert isinstance(data["meters"], list)  # JSON-ready
    assert config_from_dict(data) == config


@pytest.mark.parametrize("preset,kind", ALL)
def test_configs_record_grid_and_vocabulary(preset, kind):
    config = preset_config(kind, preset)
    assert config.vocab_size == VOCAB_SIZE and config.num_music_tokens == NUM_MUSIC_TOKENS
    assert config.window_steps == WINDOW_STEPS and config.steps_per_bar == STEPS_PER_BAR
    assert (4, 4) in config.meters and config.kind in {kind.config_kind for kind in KINDS.values()}


def test_arnn_t_is_an_arnn_config_on_target_constraints():
    config = preset_config("arnn-t", "small")
    assert isinstance(config, ARNNConfig) and config.kind == "arnn" and config.constraint_mode == "targets"
    assert preset_config("arnn", "small").constraint_mode == "random"


def test_unknown_preset_and_kind_are_model_errors():
    with pytest.raises(ModelError) as caught:
        preset_config("clsm", "huge")
    assert caught.value.exit_code == EXIT_MODEL and "paper" in str(caught.value)
    with pytest.raises(ModelError):
        preset_config("gan", "small")


def test_config_from_dict_rejects_unknown_fields_and_kinds():
    data = config_to_dict(CLSMConfig())
    with pytest.raises(ModelError, match="newer version"):
        config_from_dict({**data, "mystery_width": 3})
    with pytest.raises(ModelError, match="unknown model kind"):
        config_from_dict({**data, "kind": "gan"})
    with pytest.raises(ModelError, match="divisible"):
        config_from_dict({**data, "num_heads": 7})


def test_missing_fields_take_defaults():
    data = config_to_dict(CLSMConfig(z_dim=16))
    del data["decoding_top_p"]
    assert config_from_dict(data) == CLSMConfig(z_dim=16)


def test_with_decoding_records_the_recommended_decoding():
    config = with_decoding(preset_config("clsm", "small"), 0.8, 0.9)
    assert (config.decoding_temperature, config.decoding_top_p) == (0.8, 0.9)
    with pytest.raises(ModelError):
        with_decoding(config, -1.0)


def test_parameter_counts_per_preset():
    # The table itself is printed by benchmarks/forward.py; a test keeps pytest's output to its dots.
    counts = {}
    for preset in PRESETS:
        for kind in TRAINABLE_KINDS:
            counts[preset, kind] = parameter_count(build_model(preset_config(kind, preset)))
    table = ", ".join(f"{preset} {kind} {count:,d}" for (preset, kind), count in counts.items())
    # The paper's CLSM is about 7.9 M parameters in a straightforward implementation.
    assert 7.6e6 < counts["paper", "clsm"] < 8.2e6, table
    assert counts["tiny", "clsm"] < counts["small", "clsm"] < counts["paper", "clsm"], table
