"""Meters end to end: the editing commands choose the installed model by the target bars' meter,
``--meter`` recounts a mislabelled file's bars, and odd bars away from the target do not block an edit.

The 3/4, 6/8 and 2/4 models are tiny CLSMs trained with ``clsm train clsm --meter`` on generated
tunes (``conftest.py``), installed beside the shipped models (folk-small for 4/4, and the shipped
models of other meters, which an edit prefers when nothing is forced: ``trained.chosen_model``).
"""

from __future__ import annotations

import json

import pytest

from clsm_cli.music.bars import BarRange
from clsm_cli.timebase import Meter
from clsm_cli.music.midi_read import read_midi
from synthetic_midi.midi_factory import make_midi, melody_track
from tests.data.meter_corpus import STEP_TICKS, meter_tune, write_tune
from tests.music.edit_checks import events_outside
from tests.meters.trained import TRAINED_METERS, chosen_model, meter_model_name

pytestmark = pytest.mark.slow  # the session's meter models train for seconds


def edit(run_clsm, verb, path, *args):
    """``clsm VERB PATH ... --json --no-preview --out <next to PATH>``: (result, JSON objects)."""
    result = run_clsm(verb, path, *args, "--json", "--no-preview", "--out", path.parent / "out")
    return result, [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def outputs_of(record):
    from pathlib import Path

    return [Path(output["path"]) for output in record["outputs"]]


@pytest.mark.parametrize("meter", TRAINED_METERS)
def test_a_tune_is_edited_by_a_model_trained_on_its_meter(run_clsm, meter_models, tmp_path, meter):
    tune = tmp_path / "tune.mid"
    write_tune(tune, [(Meter.parse(meter).as_tuple(), 12)], seed=41)
    for forced in (meter_model_name(meter), None):  # the tiny model trained here, then the one chosen
        options = ("--model", forced) if forced else ("--force",)
        result, (record,) = edit(run_clsm, "infill", tune, "--bars", "5-6", "-n", "2", "--seed", "3", *options)
        assert result.exit_code == 0, result.output
        assert record["model"] == (forced or chosen_model(meter))
        assert f"model {record['model']}" in result.stderr
        for output in outputs_of(record):
            assert events_outside(output, BarRange(5, 6)) == events_outside(tune, BarRange(5, 6))


def test_a_four_four_edit_is_the_shipped_models_as_before(run_clsm, meter_models, tmp_path):
    tune = tmp_path / "tune.mid"
    write_tune(tune, [((4, 4), 12)], seed=5)
    chosen, (auto,) = edit(run_clsm, "infill", tune, "--bars", "3-4", "-n", "2", "--seed", "9")
    forced, (named,) = edit(run_clsm, "infill", tune, "--bars", "3-4", "-n", "2", "--seed", "9",
                            "--model", "folk-small", "--force")
    assert chosen.exit_code == forced.exit_code == 0, chosen.output + forced.output
    assert auto["model"] == named["model"] == "folk-small" and auto["model_sha256"] == named["model_sha256"]
    assert [output["target_tokens"] for output in auto["outputs"]] == [
        output["target_tokens"] for output in named["outputs"]]


def test_models_lists_the_meters_of_each_model(run_clsm, meter_models):
    result = run_clsm("models", "--json")
    assert result.exit_code == 0, result.output
    meters = {row["name"]: row["meters"] for row in json.loads(result.stdout)}
    assert {meters[meter_model_name(meter)][0] for meter in TRAINED_METERS} == set(TRAINED_METERS)
    assert meters["folk-small"] == ["4/4", "2/2"]
    table = run_clsm("models", env={"COLUMNS": "200"})
    assert "6/8" in table.stdout and "tiny-6-8" in table.stdout


def test_show_names_the_model_that_would_edit_the_bars(run_clsm, meter_models, tmp_path):
    jig, slip_jig = tmp_path / "jig.mid", tmp_path / "slip.mid"
    write_tune(jig, [((6, 8), 10)], seed=2)
    write_tune(slip_jig, [((9, 8), 10)], seed=2)
    result = run_clsm("show", jig, "--bars", "3-4")
    assert result.exit_code == 0, result.output
    assert f"model: {chosen_model('6/8')} would edit bars 3-4" in result.stdout
    refused = run_clsm("show", slip_jig, env={"COLUMNS": "300"})
    assert refused.exit_code == 0, refused.output
    assert "9/8, which no installed model knows (they know 2/4, 3/4, 4/4, 2/2 and 6/8)" in refused.stdout


def test_a_meter_no_model_knows_is_one_sentence_naming_the_known_meters(run_clsm, meter_models, tmp_path):
    slip_jig = tmp_path / "slip.mid"
    write_tune(slip_jig, [((9, 8), 10)], seed=3)
    result, (record,) = edit(run_clsm, "infill", slip_jig, "--bars", "3-4")
    assert result.exit_code == 3
    assert record["error"] == (
        "slip.mid is in 9/8, which no installed model knows (they know 2/4, 3/4, 4/4, 2/2 and 6/8); "
        "train one with clsm train clsm --meter 9/8"
    )
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_a_forced_model_of_another_meter_names_the_models_that_fit(run_clsm, meter_models, tmp_path):
    jig = tmp_path / "jig.mid"
    write_tune(jig, [((6, 8), 10)], seed=4)
    result, (record,) = edit(run_clsm, "vary", jig, "--bars", "3-4", "--model", "tiny-3-4")
    assert result.exit_code == 3
    assert record["error"].startswith("jig.mid is in 6/8, but the model tiny-3-4 only knows 3/4; use --model ")
    assert "tiny-6-8" in record["error"] and record["error"].endswith(", or leave --model out")


def four_four_labelled_one_four(path, bars: int):
    """Quarter-note 4/4 music whose only time signature says 1/4 (as many POP909 files do)."""
    notes = meter_tune((4, 4), bars, seed=7)
    make_midi(path, [melody_track(notes, ticks_per_step=STEP_TICKS, name="Melody")], time_signatures=[(0, 1, 4)])
    return path


def test_meter_option_recounts_a_mislabelled_song_and_keeps_its_time_signatures(run_clsm, meter_models, tmp_path):
    song = four_four_labelled_one_four(tmp_path / "pop.mid", 16)
    refused, (refusal,) = edit(run_clsm, "infill", song, "--bars", "13-14")
    assert refused.exit_code == 3 and refusal["error"].startswith("pop.mid is in 1/4, which no installed model knows")
    assert "if the music is in 4/4 and only labelled 1/4, add --meter 4/4" in refusal["error"]
    result, (record,) = edit(run_clsm, "infill", song, "--meter", "4/4", "--bars", "13-14", "-n", "2", "--seed", "1")
    assert result.exit_code == 0, result.output
    assert record["model"] == "folk-small" and "--meter 4/4" in record["reproduce"]
    assert "bars counted in 4/4 from the start" in result.stderr
    four_four = Meter(4, 4)
    for output in outputs_of(record):
        assert read_midi(output).time_signatures == read_midi(song).time_signatures == [(0, 1, 4)]
        assert events_outside(output, BarRange(13, 14), four_four) == events_outside(song, BarRange(13, 14), four_four)


def test_show_counts_bars_in_the_meter_given(run_clsm, meter_models, tmp_path):
    song = four_four_labelled_one_four(tmp_path / "pop.mid", 16)
    result = run_clsm("show", song, "--meter", "4/4", "--bars", "13-14")
    assert result.exit_code == 0, result.output
    assert any(line.split() == ["bars", "16"] for line in result.stdout.splitlines())
    assert "model: folk-small would edit bars 13-14" in result.stdout
    assert run_clsm("show", song, "--meter", "4/3").exit_code == 2


# A 3/4 tune with a 2/4 bar at each repeat: bars 8 and 16.
WALTZ_WITH_SHORT_REPEATS = [((3, 4), 7), ((2, 4), 1), ((3, 4), 7), ((2, 4), 1), ((3, 4), 4)]


def test_odd_bars_at_the_repeats_do_not_block_an_edit_away_from_them(run_clsm, meter_models, tmp_path):
    waltz = tmp_path / "waltz.mid"
    write_tune(waltz, WALTZ_WITH_SHORT_REPEATS, seed=6)
    for target, sees in ((BarRange(5, 6), "bars 1-7 and 1 bar of rest"),
                         (BarRange(11, 12), "bars 9-15 and 1 bar of rest"),
                         (BarRange(18, 19), "bars 17-20 and 4 bars of rest")):
        result, (record,) = edit(run_clsm, "infill", waltz, "--bars", f"{target.first}-{target.last}", "-n", "1",
                                 "--seed", "2", "--force")
        assert result.exit_code == 0, result.output
        assert record["model"] == chosen_model("3/4")
        (warning,) = [text for text in record["warnings"] if "not in the meter of the model" in text]
        assert warning.startswith(f"bar {8 if target.first < 12 else 16} (2/4) of waltz.mid is not in the meter "
                                  f"of the model {chosen_model('3/4')} (3/4): its window is kept off it")
        assert warning.endswith(f"and sees {sees}")
        for output in outputs_of(record):
            assert events_outside(output, target) == events_outside(waltz, target)


def test_a_target_across_two_meters_is_refused(run_clsm, meter_models, tmp_path):
    waltz = tmp_path / "waltz.mid"
    write_tune(waltz, WALTZ_WITH_SHORT_REPEATS, seed=6)
    result, (record,) = edit(run_clsm, "infill", waltz, "--bars", "7-8")
    assert result.exit_code == 3
    assert record["error"] == (
        "bars 7-8 of waltz.mid mix 3/4 and 2/4 bars, which no one model reads; choose bars in one meter")


def test_one_batch_loads_each_meters_model_once(run_clsm, meter_models, tmp_path):
    jig, reel, other_jig = tmp_path / "jig.mid", tmp_path / "reel.mid", tmp_path / "jig2.mid"
    write_tune(jig, [((6, 8), 10)], seed=1)
    write_tune(reel, [((4, 4), 10)], seed=1)
    write_tune(other_jig, [((6, 8), 10)], seed=2)
    result = run_clsm("infill", jig, reel, other_jig, "--bars", "3-4", "-n", "1", "--json", "--no-preview",
                      "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    jig_model = chosen_model("6/8")
    reel_model = records[1]["model"]  # the 4/4 model that fits the reel best (folk-small or pop-small)
    assert reel_model in {fit["model"] for fit in records[1]["model_choice"]["fits"]}
    assert [record["model"] for record in records] == [jig_model, reel_model, jig_model]
    assert result.stderr.count(f"model {jig_model} (cpu)") == 1 and result.stderr.count(f"model {reel_model} (cpu)") == 1
