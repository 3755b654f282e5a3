"""Seeded fuzzing: damaged MIDI files are either read or refused with a ClsmError, never a crash.

A few hundred mutations here; ``benchmarks/fuzz.py`` runs thousands.
"""

import random

import pytest

from clsm_cli.errors import ClsmError
from synthetic_midi.mutations import exercise, mutated, seed_files

SEED_FILES = seed_files()
MUTATIONS_PER_FILE = 60  # 6 seed files: 360 mutated files


@pytest.mark.parametrize("name", sorted(SEED_FILES))
def test_mutated_files_are_read_or_refused_cleanly(name, tmp_path):
    rng = random.Random(f"fuzz-{name}")
    outcomes = {"ok": 0, "refused": 0}
    for index in range(MUTATIONS_PER_FILE):
        data = mutated(SEED_FILES[name], rng)
        try:
            # Every fourth file also goes through the surgical writer and is read back.
            exercise(data, tmp_path if index % 4 == 0 else None)
            outcomes["ok"] += 1
        except ClsmError as error:
            assert error.message and "\n" not in error.message
            outcomes["refused"] += 1
        # Anything else propagates and fails the test with the mutation's index in the traceback.
    # The mutations must reach both outcomes, or the test would not be testing much.
    assert outcomes["ok"] > 0 and outcomes["refused"] > 0, outcomes


def test_seed_files_themselves_pass_through_everything(tmp_path):
    for data in SEED_FILES.values():
        assert exercise(data, tmp_path) == "ok"
