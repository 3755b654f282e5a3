"""The committed fixture files are exactly what tests/fixtures/make_fixtures.py writes."""

import importlib.util
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def test_fixtures_match_their_script():
    spec = importlib.util.spec_from_file_location("make_fixtures", FIXTURES / "make_fixtures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    expected = module.all_fixtures()
    assert sorted(expected) == sorted(p.name for p in FIXTURES.glob("*.mid"))
    for name, data in expected.items():
        assert (FIXTURES / name).read_bytes() == data, f"{name} is stale: run python tests/fixtures/make_fixtures.py"
