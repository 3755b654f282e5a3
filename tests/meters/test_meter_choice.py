"""Meters in the editing code, without training: bars recounted by ``--meter``, the window kept off
odd bars, and which installed model a target's meter chooses (config.json files only)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from clsm_cli import checkpoint
from clsm_cli.checkpoint import InstalledModel, list_installed_models
from clsm_cli.constants import HOLD_TOKEN, REST_TOKEN
from clsm_cli.editing.model_choice import (
    check_forced_model,
    choose_model,
    editor_line,
    installed_editors,
    target_group,
)
from clsm_cli.editing.prepare import check_model_meters, open_song, prepare_song
from clsm_cli.editing.window import centred_window
from clsm_cli.errors import InputFileError
from clsm_cli.models.config import preset_config, with_meter
from clsm_cli.music.bars import BarRange, meter_run, song_bars, window_around
from clsm_cli.timebase import Meter
from clsm_cli.music.midi_read import read_midi
from synthetic_midi.midi_factory import make_midi, melody_track
from tests.data.meter_corpus import STEP_TICKS, meter_tune, write_tune

FOUR_FOUR = preset_config("clsm", "tiny")  # 4/4 and 2/2
WALTZ = with_meter(FOUR_FOUR, ((3, 4),))
THREE = [Meter(3, 4)]


def model(name: str, config, source: str = "user") -> InstalledModel:
    return InstalledModel(name, Path("/models") / name, source, config.kind, config)


# --- --meter ------------------------------------------------------------------------------------


def test_a_meter_override_counts_bars_from_tick_zero(tmp_path):
    notes = meter_tune((4, 4), 6, seed=1)
    path = make_midi(tmp_path / "pop.mid", [melody_track(notes, ticks_per_step=STEP_TICKS)],
                     time_signatures=[(0, 1, 4), (4 * 16 * STEP_TICKS, 2, 4)])
    song = read_midi(path)
    assert [bar.meter for bar in song_bars(song)][:17] == [(1, 4)] * 16 + [(2, 4)]
    bars = song_bars(song, Meter(4, 4))
    assert len(bars) == 6 and {bar.meter for bar in bars} == {(4, 4)}
    assert [bar.start_tick for bar in bars] == [index * 16 * STEP_TICKS for index in range(6)]
    opened = open_song(path, BarRange(5, 6), Meter(4, 4))
    assert any("bars counted in 4/4 from the start (--meter; the file says 1/4 and 2/4" in text
               for text in opened.warnings)


# --- the window kept off odd bars -------------------------------------------------------------------


def test_window_around_stays_within_the_bars_given():
    assert window_around(BarRange(11, 12), 30, 8) == BarRange(8, 15)
    assert window_around(BarRange(11, 12), 30, 8, within=BarRange(9, 30)) == BarRange(9, 16)
    assert window_around(BarRange(11, 12), 30, 8, within=BarRange(1, 13)) == BarRange(6, 13)
    assert window_around(BarRange(11, 12), 30, 8, within=BarRange(9, 15)) == BarRange(9, 15)


@pytest.fixture
def waltz(tmp_path):
    """A 3/4 tune whose bar 8 is a 2/4 bar (at the repeat), 16 bars in all."""
    path = tmp_path / "waltz.mid"
    write_tune(path, [((3, 4), 7), ((2, 4), 1), ((3, 4), 8)], seed=3)
    return path


def test_the_run_of_the_models_bars_ends_at_odd_bars(waltz):
    bars = song_bars(read_midi(waltz))
    assert meter_run(bars, BarRange(3, 4), THREE, 12) == BarRange(1, 7)
    assert meter_run(bars, BarRange(10, 10), THREE, 12) == BarRange(9, 16)
    assert meter_run(bars, BarRange(8, 8), [Meter(2, 4)], 8) == BarRange(8, 8)


def test_an_odd_bar_outside_the_target_is_a_warning_and_inside_it_an_error(waltz):
    bars = song_bars(read_midi(waltz))
    assert check_model_meters(bars, BarRange(13, 14), "waltz.mid", "w", WALTZ) is None  # window 9-16
    warning = check_model_meters(bars, BarRange(9, 10), "waltz.mid", "w", WALTZ)
    assert warning == ("bar 8 (2/4) of waltz.mid is not in the meter of the model w (3/4): its window is kept off "
                       "it and sees bars 9-16")
    with pytest.raises(InputFileError, match="bar 8 of waltz.mid is in 2/4, but the model w only knows 3/4"):
        check_model_meters(bars, BarRange(7, 8), "waltz.mid", "w", WALTZ)


def test_the_models_window_is_shifted_off_an_odd_bar_or_padded_with_rests(waltz):
    prepared = prepare_song(open_song(waltz, BarRange(9, 10)), BarRange(9, 10), None)
    shifted = centred_window(prepared, prepared.line, BarRange(9, 10), WALTZ)
    assert shifted.start_step == prepared.bars[8].first_step  # bars 9-16, not 7-14
    padded = centred_window(prepared, prepared.line, BarRange(3, 4), WALTZ)
    assert padded.start_step == 0
    bar_eight = prepared.bars[7].first_step  # 84: bars 1-7, then rests where bar 8 and more would be
    assert padded.tokens[bar_eight] == REST_TOKEN and set(padded.tokens[bar_eight + 1 :]) == {HOLD_TOKEN}
    assert set(padded.tokens[:bar_eight]) - {HOLD_TOKEN, REST_TOKEN}  # the music of bars 1-7 is there
    later = centred_window(prepared, prepared.line, BarRange(11, 12), WALTZ)
    assert later.start_step >= prepared.bars[8].first_step  # kept off bar 8 (2/4) on its left


def test_a_song_in_one_meter_gets_the_window_it_always_had(tmp_path):
    path = tmp_path / "reel.mid"
    write_tune(path, [((4, 4), 12)], seed=2)
    prepared = prepare_song(open_song(path, BarRange(5, 6)), BarRange(5, 6), None)
    window = centred_window(prepared, prepared.line, BarRange(5, 6), FOUR_FOUR)
    assert window.start_step == 16 and window.target.start == 3 * 16  # bars 2-9
    assert check_model_meters(prepared.bars, BarRange(5, 6), "reel.mid", "m", FOUR_FOUR) is None


# --- choosing the model ---------------------------------------------------------------------------


def test_the_shipped_model_comes_first_then_the_default_then_names():
    folk = model("folk-small", FOUR_FOUR, "shipped")
    shipped_waltz = model("waltz-small", WALTZ, "shipped")
    mine = [model("a-waltz", WALTZ), model("b-reel", FOUR_FOUR)]
    ordered = installed_editors(mine + [shipped_waltz, folk])
    assert [entry.name for entry in ordered] == ["folk-small", "waltz-small", "a-waltz", "b-reel"]


def test_the_target_bars_meter_group_chooses(waltz, tmp_path):
    bars = song_bars(read_midi(waltz))
    models = installed_editors([model("reel", FOUR_FOUR), model("waltz-2", WALTZ), model("waltz-1", WALTZ)])
    assert choose_model(bars, BarRange(3, 4), "waltz.mid", models).name == "waltz-1"
    with pytest.raises(InputFileError) as refused:
        choose_model(bars, BarRange(8, 8), "waltz.mid", models)
    assert refused.value.message == ("bar 8 of waltz.mid is in 2/4, which no installed model knows (they know 3/4, "
                                     "4/4 and 2/2); train one with clsm train clsm --meter 2/4")
    cut_time = tmp_path / "cut.mid"
    write_tune(cut_time, [((2, 2), 6)], seed=1)
    assert choose_model(song_bars(read_midi(cut_time)), BarRange(2, 3), "cut.mid", models).name == "reel"


def test_target_bars_in_two_groups_are_refused_but_two_two_and_four_four_are_one(tmp_path, waltz):
    with pytest.raises(InputFileError, match="bars 7-8 of waltz.mid mix 3/4 and 2/4 bars"):
        target_group(song_bars(read_midi(waltz)), BarRange(7, 8), "waltz.mid")
    mixed = tmp_path / "mixed.mid"
    write_tune(mixed, [((4, 4), 4), ((2, 2), 4)], seed=1)
    assert target_group(song_bars(read_midi(mixed)), BarRange(4, 5), "mixed.mid") == Meter(4, 4)


def test_a_forced_model_is_checked_against_the_target(waltz):
    bars = song_bars(read_midi(waltz))
    models = [model("waltz", WALTZ)]
    check_forced_model(bars, BarRange(3, 4), "waltz.mid", "waltz", WALTZ, lambda: models)
    with pytest.raises(InputFileError) as refused:
        check_forced_model(bars, BarRange(3, 4), "waltz.mid", "reel", FOUR_FOUR, lambda: models)
    assert refused.value.message == ("bars 3-4 of waltz.mid are in 3/4, but the model reel only knows 4/4 and 2/2; "
                                     "use --model waltz, or leave --model out")
    with pytest.raises(InputFileError, match="only knows 3/4; no installed model knows 2/4$"):
        check_forced_model(bars, BarRange(8, 8), "waltz.mid", "waltz", WALTZ, lambda: models)


def test_show_names_the_model_of_the_most_common_meter_shown(waltz):
    bars = song_bars(read_midi(waltz))
    models = [model("folk-small", FOUR_FOUR, "shipped"), model("waltz", WALTZ)]
    assert editor_line(bars, BarRange(1, 8), "waltz.mid", models) == (
        "model: waltz would edit bars 1-8 (3/4; it knows 3/4)")
    assert editor_line(bars, BarRange(8, 8), "waltz.mid", models).startswith(
        "model: bar 8 of waltz.mid is in 2/4, which no installed model knows (they know 3/4, 4/4 and 2/2)")
    assert editor_line(bars, BarRange(1, 8), "waltz.mid", []) == "model: none is installed"


def test_choosing_reads_config_files_only(tiny_model_dir, tmp_path, monkeypatch):
    home = tmp_path / "home"
    broken = home / "models" / "broken-weights"
    broken.mkdir(parents=True)
    (broken / "config.json").write_bytes((Path(tiny_model_dir) / "config.json").read_bytes())
    (broken / "model.safetensors").write_bytes(b"not weights")
    monkeypatch.setenv(checkpoint.HOME_ENV, str(home))
    checked = {entry.name: entry for entry in list_installed_models()}
    assert checked["broken-weights"].problem is not None
    light = {entry.name: entry for entry in list_installed_models(read_weights=False)}
    assert light["broken-weights"].problem is None and light["broken-weights"].kind == "clsm"
    assert "broken-weights" in [entry.name for entry in installed_editors()]


def test_window_tokens_of_a_model_of_another_meter_have_its_length(waltz):
    prepared = prepare_song(open_song(waltz, BarRange(12, 13)), BarRange(12, 13), None)
    window = centred_window(prepared, prepared.line, BarRange(12, 13), WALTZ)
    assert window.tokens.shape == (96,) and window.tokens.dtype == np.uint8


def test_a_pickup_written_as_its_own_bar_shifts_the_window_off_it(tmp_path):
    notes = [(0, 4, 67)] + meter_tune((3, 4), 12, seed=4, first_step=4)  # a quarter-note upbeat in a 1/4 bar
    path = make_midi(tmp_path / "pickup.mid", [melody_track(notes, ticks_per_step=STEP_TICKS)],
                     time_signatures=[(0, 1, 4), (4 * STEP_TICKS, 3, 4)])
    prepared = prepare_song(open_song(path, BarRange(2, 3)), BarRange(2, 3), None)
    models = [model("waltz", WALTZ), model("folk-small", FOUR_FOUR, "shipped")]
    assert choose_model(prepared.bars, BarRange(2, 3), "pickup.mid", installed_editors(models)).name == "waltz"
    assert check_model_meters(prepared.bars, BarRange(2, 3), "pickup.mid", "waltz", WALTZ) == (
        "bar 1 (1/4) of pickup.mid is not in the meter of the model waltz (3/4): its window is kept off it and "
        "sees bars 2-9")
    window = centred_window(prepared, prepared.line, BarRange(2, 3), WALTZ)
    assert window.start_step == prepared.bars[1].first_step == 4 and window.target.start == 0
    assert editor_line(prepared.bars, BarRange(1, 8), "pickup.mid", models).startswith("model: waltz would edit")
