"""editing/provenance.py: what an output records about itself, and which stored w is reused."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from clsm_cli.editing.options import EditOptions, FileResult, Latent
from clsm_cli.editing.provenance import parse_provenance, provenance_record, provenance_text, stored_latent, w_to_text
from clsm_cli.sampling import ARGMAX
from clsm_cli.music.bars import BarRange


def options(seed=1) -> EditOptions:
    return EditOptions(verb="infill", bars=BarRange(3, 4), seed=seed, temperature=0.0)


def model_key(loaded):
    """What stored_latent compares: the model's name, weights digest and latent size."""
    return loaded.name, loaded.sha256, loaded.config.z_dim


def test_provenance_round_trips_w_exactly(tiny_model):
    w = np.random.default_rng(0).normal(size=tiny_model.config.z_dim).astype(np.float32)
    result = FileResult(input=__file__, verb="infill", seed=5, model=tiny_model.name,
                        model_sha256=tiny_model.sha256, bars=BarRange(3, 4), decoding=ARGMAX)
    record = provenance_record(result, 2, [Latent(BarRange(3, 4), w)], 1, options(seed=5))
    text = provenance_text(record)
    records = parse_provenance(["some other text", text, "clsm-provenance {not json"])
    assert len(records) == 1 and records[0]["seed"] == 5 and records[0]["k"] == 2
    assert records[0]["grid"] == {"steps_per_quarter": 4, "encoding": "16th"}  # the model's grid
    assert "clsm infill" in records[0]["command"] and "--seed 5" in records[0]["command"]
    stored = stored_latent(records, BarRange(3, 4), *model_key(tiny_model))
    assert stored is not None and np.array_equal(stored, w)
    assert stored_latent(records, BarRange(5, 6), *model_key(tiny_model)) is None  # other bars
    other_model = replace(tiny_model, sha256="0" * 16)
    assert stored_latent(records, BarRange(3, 4), *model_key(other_model)) is None


def test_the_newest_edit_of_the_bars_decides_which_w_is_stored(tiny_model):
    def record(generation, bars, w):
        return {"model": tiny_model.name, "model_sha256": tiny_model.sha256, "generation": generation,
                "bars": bars, "latents": [{"bars": bars, "w": w_to_text(w)}]}

    old, new = np.zeros(tiny_model.config.z_dim, np.float32), np.ones(tiny_model.config.z_dim, np.float32)
    assert np.array_equal(stored_latent([record(2, [3, 4], new), record(1, [3, 4], old)], BarRange(3, 4),
                                        *model_key(tiny_model)), new)
    # A later edit of bars 4-5 changed bar 4: the old w no longer describes bars 3-4.
    assert stored_latent([record(1, [3, 4], old), record(2, [4, 5], new)], BarRange(3, 4), *model_key(tiny_model)) is None
