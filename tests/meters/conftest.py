"""Tiny CLSMs that know 3/4, 6/8 and 2/4, trained with ``clsm train clsm --meter`` on generated tunes
and installed in a temporary models folder (``CLSM_HOME``), shared by the tests of this folder.

Each trains a few steps of the tiny preset: enough to be a real model of its meter's grid (what
choosing by meter and the window geometry need), not a good one.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from clsm_cli.timebase import Meter
from tests.data.meter_corpus import write_tune
from tests.meters.trained import TRAINED_METERS, meter_model_name

TUNES_PER_METER = 4  # 3 songs fill every split of a group; a fourth gives train-1 more windows
TUNE_BARS = 12


@pytest.fixture(scope="session")
def meter_models_home(tmp_path_factory) -> Path:
    """A CLSM_HOME whose models folder holds ``tiny-3-4``, ``tiny-6-8`` and ``tiny-2-4``."""
    from typer.testing import CliRunner

    from clsm_cli.cli.app import app
    from clsm_cli.data.corpus import build_dataset

    tunes = tmp_path_factory.mktemp("meter-tunes")
    for meter in TRAINED_METERS:
        for seed in range(TUNES_PER_METER):
            write_tune(tunes / meter_model_name(meter) / f"{seed}.mid", [(Meter.parse(meter).as_tuple(), TUNE_BARS)],
                       seed + 1)
    data = tmp_path_factory.mktemp("meter-data") / "tunes"
    build_dataset(data, [tunes], identity_mode="path", workers=1, windows_per_shard=16)
    home = tmp_path_factory.mktemp("clsm-home")
    runner = CliRunner(env={"CLSM_HOME": str(home), "COLUMNS": "100", "NO_COLOR": "1"})
    for meter in TRAINED_METERS:
        result = runner.invoke(app, [
            "train", "clsm", "--data", str(data), "--out", meter_model_name(meter), "--meter", meter,
            "--preset", "tiny", "--batch-size", "8", "--max-steps", "2", "--max-val-windows", "8", "--workers", "0",
        ])
        assert result.exit_code == 0, result.output
    return home


@pytest.fixture
def meter_models(meter_models_home, monkeypatch) -> Path:
    """Point the user models folder at the session's meter models for one test."""
    monkeypatch.setenv("CLSM_HOME", str(meter_models_home))
    return meter_models_home / "models"
