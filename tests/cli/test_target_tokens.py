"""``--json`` ``target_tokens``: the target's tokens, bars separated by ``|`` at the model's bar length."""

import json

import pytest

from synthetic_midi.midi_factory import make_midi, melody_track


@pytest.mark.parametrize("meter, model, steps_per_bar", [
    ((4, 4), "folk-small", 16), ((3, 4), "folk-small-3-4", 12), ((6, 8), "folk-small-6-8", 12),
    ((2, 4), "folk-small-2-4", 8),
])
def test_target_tokens_split_at_the_models_bar_length(run_clsm, tmp_path, meter, model, steps_per_bar):
    num_bars = 12
    notes = [(step, step + 2, 60 + (step // 2) % 12) for step in range(0, num_bars * steps_per_bar, 2)]
    tune = make_midi(tmp_path / "tune.mid", [melody_track(notes)], time_signatures=((0, *meter),))
    result = run_clsm("infill", tune, "--bars", "5-7", "-n", "1", "--model", model, "--json", "--no-preview",
                      "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    (output,) = json.loads(result.stdout)["outputs"]
    bars = output["target_tokens"].split(" | ")
    assert [len(bar.split()) for bar in bars] == [steps_per_bar] * 3
