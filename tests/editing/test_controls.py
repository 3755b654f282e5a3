"""The controls (issue 22): each one met by every written candidate, on both engines, which agree.

A tiny random model draws nearly uniform tokens, so anything the masks let through shows up.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from clsm_cli.editing.controls import ControlRequest, parse_density, parse_pitch, parse_range
from clsm_cli.editing.options import EditOptions, check_options, command_decoding
from clsm_cli.editing.verbs import edit_file
from clsm_cli.errors import UsageError
from clsm_cli.music.bars import BarRange
from clsm_cli.music.key import parse_key
from synthetic_midi.midi_factory import output_line, scale_melody, write_song

TARGET = BarRange(3, 4)
TARGET_STEPS = (32, 64)


@pytest.fixture(scope="module", params=["numpy", "torch"])
def engine_model(request, tiny_model_dir):
    from clsm_cli.engine.load import load_engine

    return load_engine(str(tiny_model_dir), request.param, "cpu")


@pytest.fixture(scope="module")
def song(tmp_path_factory):
    # A tune with rests and long notes, so the rhythm is worth keeping.
    notes = [(step, step + (8 if step % 16 == 0 else 4), 60 + (step // 4) % 7 * 2) for step in range(0, 128, 4)
             if step % 32 != 12]
    return write_song(tmp_path_factory.mktemp("songs") / "tune.mid", notes)


def edit(path, model, out_dir, verb="infill", num=4, seed=3, **controls):
    options = EditOptions(verb=verb, bars=TARGET, seed=seed, num=num, out_dir=Path(out_dir),
                          controls=ControlRequest(**controls), temperature=1.0)
    check_options(options)
    result = edit_file(Path(path), options, model, command_decoding(model.config, 1.0, None))
    assert result.ok, result.error
    return result


def new_notes(path):
    return [n for n in output_line(path) if TARGET_STEPS[0] <= n.start_step < TARGET_STEPS[1]]


def line_leaps(path):
    pitches = [n.pitch for n in output_line(path)]
    first = next(i for i, n in enumerate(output_line(path)) if n.start_step >= TARGET_STEPS[0])
    last = max(i for i, n in enumerate(output_line(path)) if n.start_step < TARGET_STEPS[1])
    window = pitches[max(first - 1, 0) : last + 2]  # the step in and the step out included
    return [abs(b - a) for a, b in zip(window, window[1:])]


CASES = {
    "key": dict(key="D"),
    "key auto": dict(key="auto"),
    "range": dict(pitch_range=(62, 69)),
    "max leap": dict(max_leap=2),
    "keep rhythm": dict(keep_rhythm=True),
    "density": dict(density=(5.0, 7.0)),
    "all at once": dict(key="Em", pitch_range=(60, 76), max_leap=4),
}


@pytest.mark.parametrize("case", list(CASES))
def test_every_candidate_meets_the_control(case, song, engine_model, tmp_path):
    result = edit(song, engine_model, tmp_path, **CASES[case])
    assert len(result.outputs) == 4
    original = [n for n in output_line(song) if TARGET_STEPS[0] <= n.start_step < TARGET_STEPS[1]]
    for output in result.outputs:
        notes = new_notes(output.path)
        assert notes
        pitches = [n.pitch for n in notes]
        controls = CASES[case]
        if "key" in controls:
            key = result.steering.lock_key if controls["key"] == "auto" else parse_key(controls["key"])
            assert key == (result.steering.song_key if controls["key"] == "auto" else parse_key(controls["key"]))
            assert all(key.contains(p) for p in pitches), (case, pitches)
            assert output.achieved.in_key_share == 1.0
        if "pitch_range" in controls:
            low, high = controls["pitch_range"]
            assert all(low <= p <= high for p in pitches)
        if "max_leap" in controls:
            assert max(line_leaps(output.path)) <= controls["max_leap"]
        if controls.get("keep_rhythm"):
            assert [(n.start_step, n.end_step) for n in notes] == [(n.start_step, n.end_step) for n in original]
            assert output.achieved.rhythm_kept
        if "density" in controls:
            for bar_start in (32, 48):
                assert 5 <= sum(bar_start <= n.start_step < bar_start + 16 for n in notes) <= 7
    record = result.to_json()
    assert all(set(output["score"]) >= {"total", "log_likelihood", "edge_leaps", "key_fit", "register_fit"}
               for output in record["outputs"])
    assert record["controls"]["max_leap"] == CASES[case].get("max_leap")


@pytest.mark.parametrize("case", ["all at once", "keep rhythm", "density"])
def test_the_engines_agree_token_for_token_under_the_controls(case, song, tiny_model_dir, tmp_path):
    from clsm_cli.engine.load import load_engine

    numpy_result = edit(song, load_engine(str(tiny_model_dir), "numpy", "cpu"), tmp_path / "numpy", **CASES[case])
    torch_result = edit(song, load_engine(str(tiny_model_dir), "torch", "cpu"), tmp_path / "torch", **CASES[case])
    assert [o.target_tokens.tolist() for o in numpy_result.outputs] == [o.target_tokens.tolist() for o in torch_result.outputs]


def test_the_default_register_keeps_new_notes_near_the_melody(song, engine_model, tmp_path):
    result = edit(song, engine_model, tmp_path, num=4)
    low, high = result.steering.pitch_range
    assert (low, high) == (60 - 3, 72 + 3)  # the window's melody notes, 3 semitones either side
    assert all(low <= n.pitch <= high for output in result.outputs for n in new_notes(output.path))
    free = edit(song, engine_model, tmp_path / "any", pitch_range="any")
    assert free.steering.pitch_range is None


def test_vary_decodes_under_the_controls(song, engine_model, tmp_path):
    options = EditOptions(verb="vary", bars=TARGET, seed=2, num=3, amount=0.5, out_dir=tmp_path, temperature=1.0,
                          controls=ControlRequest(key="F", max_leap=5))
    result = edit_file(Path(song), options, engine_model, command_decoding(engine_model.config, 1.0, None))
    assert result.ok, result.error
    for output in result.outputs:
        assert all(parse_key("F").contains(n.pitch) for n in new_notes(output.path))
        assert max(line_leaps(output.path)) <= 5


def test_interpolate_warns_when_an_exact_endpoint_breaks_a_control(song, engine_model, tmp_path):
    options = EditOptions(verb="interpolate", bars=TARGET, seed=2, steps=2, from_original=True, out_dir=tmp_path,
                          temperature=1.0, controls=ControlRequest(key="F#", pitch_range=(60, 80)))
    result = edit_file(Path(song), options, engine_model, command_decoding(engine_model.config, 1.0, None))
    assert result.ok, result.error
    assert any("first endpoint is kept note for note and breaks --key F# major" in w for w in result.warnings)
    assert all(parse_key("F#").contains(n.pitch) for n in new_notes(result.outputs[1].path))  # a step between


def test_keep_rhythm_on_an_all_rest_target_fails_that_file(tmp_path, engine_model):
    notes = [n for n in scale_melody(8) if not 32 <= n[0] < 64]
    path = write_song(tmp_path / "gap.mid", notes)
    options = EditOptions(verb="infill", bars=TARGET, seed=1, out_dir=tmp_path, controls=ControlRequest(keep_rhythm=True))
    result = edit_file(path, options, engine_model, command_decoding(engine_model.config, None, None))
    assert result.exit_code == 3 and "all rests" in result.error.message


@pytest.mark.parametrize(("request_", "message"), [
    (ControlRequest(key="C", pitch_range=(61, 61)), "holds no note of C major"),
    (ControlRequest(keep_rhythm=True, density=(1.0, 2.0)), "give one of them"),
    (ControlRequest(key="H"), "is not a key"),
    (ControlRequest(max_leap=-1), "--max-leap"),
])
def test_impossible_settings_are_usage_errors(request_, message):
    with pytest.raises(UsageError, match=message):
        check_options(EditOptions(verb="infill", bars=TARGET, seed=1, controls=request_))


def test_ranges_and_densities_parse_as_musicians_write_them():
    assert parse_pitch("C4") == 60 and parse_pitch("F#3") == 54 and parse_pitch("Bb5") == 82 and parse_pitch("67") == 67
    assert parse_range("G3-E6") == (55, 88) and parse_range("any") == "any" and parse_range(None) is None
    assert parse_range("C-1-C0") == (0, 12)
    assert parse_density("2-5") == (2.0, 5.0)
    for text in ("E6-G3", "x-y", "60"):
        with pytest.raises(UsageError):
            parse_range(text)
    with pytest.raises(UsageError, match="low to high"):
        parse_density("5-2")
