"""Training checkpoints: exact round trips without pickle, atomic replacement, clear errors."""

from __future__ import annotations

import json

import pytest
import torch

from clsm_cli.errors import ModelError
from clsm_cli.train import state as training_state


def _trained_pair(seed: int = 0):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2, betas=(0.9, 0.999), foreach=False)
    for _ in range(3):
        optimizer.zero_grad()
        model(torch.randn(5, 4)).pow(2).mean().backward()
        optimizer.step()
    return model, optimizer


def test_optimizer_state_flattens_and_restores_exactly():
    _, optimizer = _trained_pair()
    original = optimizer.state_dict()
    tensors, meta = training_state.flatten_optimizer_state(original)
    json.dumps(meta)  # the non-tensor part is plain JSON
    restored = training_state.unflatten_optimizer_state(tensors, meta)
    assert restored["param_groups"][0]["betas"] == (0.9, 0.999)
    assert restored["param_groups"] == original["param_groups"]
    for index, values in original["state"].items():
        for name, value in values.items():
            assert torch.equal(restored["state"][index][name], value)


def test_checkpoint_round_trip_continues_identically(tmp_path):
    model, optimizer = _trained_pair()
    generator = torch.Generator().manual_seed(3)
    torch.randn(2, generator=generator)
    training_state.save_training_state(
        tmp_path,
        model=model,
        optimizer=optimizer,
        scaler_state={},
        progress={"global_step": 3, "epoch": 0, "step_in_epoch": 3},
        rng_states={"conditions": generator.get_state()},
        info={"kind": "test"},
    )
    fresh_model, fresh_optimizer = _trained_pair(seed=99)  # different weights and moments
    state, scaler_state = training_state.load_training_state(
        tmp_path, model=fresh_model, optimizer=fresh_optimizer, device=torch.device("cpu")
    )
    assert state.progress["global_step"] == 3 and state.info == {"kind": "test"} and scaler_state == {}
    restored_generator = torch.Generator()
    restored_generator.set_state(state.rng_states["conditions"])
    assert torch.equal(torch.randn(4, generator=restored_generator), torch.randn(4, generator=generator))

    batch = torch.randn(5, 4)
    for net, opt in ((model, optimizer), (fresh_model, fresh_optimizer)):
        opt.zero_grad()
        net(batch).pow(2).mean().backward()
        opt.step()
    for a, b in zip(model.parameters(), fresh_model.parameters()):
        assert torch.equal(a, b)


def test_a_new_checkpoint_replaces_the_old_one(tmp_path):
    model, optimizer = _trained_pair()
    for step in (10, 20):
        training_state.save_training_state(
            tmp_path, model=model, optimizer=optimizer, scaler_state={},
            progress={"global_step": step}, rng_states={}, info={},
        )
    directory = training_state.state_directory(tmp_path)
    assert sorted(p.name for p in directory.iterdir()) == ["state-000000020.safetensors", "state.json"]
    assert training_state.read_training_info(tmp_path)["progress"]["global_step"] == 20


def test_damaged_checkpoints_raise_model_errors(tmp_path):
    model, optimizer = _trained_pair()
    training_state.save_training_state(
        tmp_path, model=model, optimizer=optimizer, scaler_state={}, progress={"global_step": 1}, rng_states={}, info={}
    )
    directory = training_state.state_directory(tmp_path)
    (directory / "state-000000001.safetensors").write_bytes(b"not a tensor file")
    with pytest.raises(ModelError, match="damaged"):
        training_state.load_training_state(tmp_path, model=model, optimizer=optimizer, device=torch.device("cpu"))
    (directory / "state.json").write_text('{"format_version": 99}')
    with pytest.raises(ModelError, match="format 99"):
        training_state.read_training_info(tmp_path)
