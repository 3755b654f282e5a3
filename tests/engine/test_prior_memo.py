"""The numpy engine remembers the last context's prior (the model choice measures the fit in the
window the edit then draws from): the same figures, computed once, and callers get copies."""

from __future__ import annotations

import numpy as np

from clsm_cli.engine.numpy_engine import NumpyEngine
from clsm_cli.engine.protocol import TargetSpan
from tests.engine.conftest import random_window


def test_the_prior_of_a_context_is_computed_once_and_handed_out_as_copies(tiny_model):
    engine = tiny_model.engine
    assert isinstance(engine, NumpyEngine)
    calls = []
    network = engine.prior_network
    engine.prior_network = lambda tokens, target: calls.append(1) or network(tokens, target)
    try:
        window, target = random_window(5), TargetSpan(32, 32)
        first = engine.prior(window, target)
        other_target = window.copy()
        other_target[32:64] = (other_target[32:64] + 1) % 30  # the target's own tokens do not matter
        second = engine.prior(other_target, target)
        assert len(calls) == 1
        np.testing.assert_array_equal(first.mean, second.mean)
        first.mean[:] = 99.0  # a caller's change does not reach the remembered prior
        assert not np.any(engine.prior(window, target).mean == 99.0)
        context = window.copy()
        context[0] = (context[0] + 1) % 30  # another context: computed again
        engine.prior(context, target)
        engine.prior(window, TargetSpan(16, 32))  # another target span: again
        assert len(calls) == 3
    finally:
        engine.prior_network = network
