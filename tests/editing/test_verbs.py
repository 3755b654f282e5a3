"""editing/verbs.py: whole-file edits with a tiny random CLSM (outputs, ties, chunks, meters, warnings)."""

from __future__ import annotations

import numpy as np
import pytest

from clsm_cli.constants import HOLD_TOKEN
from clsm_cli.editing import generate
from clsm_cli.editing.generate import Candidate
from clsm_cli.editing.options import EditOptions, check_options, command_decoding
from clsm_cli.editing.provenance import parse_provenance, w_from_text
from clsm_cli.editing.verbs import edit_file
from clsm_cli.errors import InputFileError, UsageError
from clsm_cli.music.bars import BarRange
from clsm_cli.music.midi_read import read_midi, read_text_events
from clsm_cli.music.tokens import StepNote, encode_notes, pitch_to_token
from synthetic_midi.midi_factory import STEP_TICKS, melody_of, output_line, scale_melody, write_song


def options(verb="infill", bars=BarRange(3, 4), seed=1, out_dir=".", **values) -> EditOptions:
    values.setdefault("temperature", 0.0)
    return EditOptions(verb=verb, bars=bars, seed=seed, out_dir=out_dir, **values)


def run_edit(path, edit_options, loaded):
    """One file through edit_file with the command's decoding, resolved as the CLI does."""
    return edit_file(path, edit_options, loaded, command_decoding(loaded.config, edit_options.temperature,
                                                                  edit_options.top_p))


def test_infill_file_writes_n_outputs_and_records_them(tmp_path, tiny_model):
    song = write_song(tmp_path / "song.mid", scale_melody(10))
    result = run_edit(song, options(num=3, out_dir=tmp_path / "out"), tiny_model)
    assert result.ok, result.error
    assert [output.path.name for output in result.outputs] == [
        f"song.infill-bars3-4-s1-{k}.mid" for k in (1, 2, 3)
    ]
    data = result.to_json()
    assert data["bars"] == [3, 4] and data["seed"] == 1 and len(data["outputs"]) == 3
    assert all(len(output["latents"][0]["w"]) == tiny_model.config.z_dim for output in data["outputs"])
    records = parse_provenance(read_text_events(result.outputs[0].path))
    assert len(records) == 1 and np.array_equal(w_from_text(records[0]["latents"][0]["w"]),
                                                  result.outputs[0].latents[0].w)


def test_a_generated_leading_hold_is_a_new_note_never_an_extension(tmp_path, tiny_model, monkeypatch):
    # Bar 2 ends with a note held over the bar line into bar 3; the "model" holds it on.
    notes = [n for n in scale_melody(8) if not 28 <= n[0] < 36] + [(28, 36, 67)]
    song = write_song(tmp_path / "tie.mid", notes, accompaniment=False)
    generated = np.array([HOLD_TOKEN] * 6 + [pitch_to_token(72)] + [HOLD_TOKEN] * 25, dtype=np.uint8)

    def fake_infill(engine, window, target, decoding, seed, candidates, chunk=0, attempt=0, rules=None):
        return [Candidate(generated.copy(), np.zeros(engine.config.z_dim, np.float32)) for _ in candidates]

    monkeypatch.setattr(generate, "infill", fake_infill)
    result = run_edit(song, options(num=1, out_dir=tmp_path), tiny_model)
    assert result.ok, result.error
    line = output_line(result.outputs[0].path)
    # The note before the target ends where the hold, now a new note of its pitch, starts.
    assert StepNote(28, 32, 67) in line and StepNote(32, 38, 67) in line
    assert StepNote(38, 64, 72) in line
    assert [n for n in line if n.start_step < 28] == [StepNote(*n[:2], n[2]) for n in notes if n[0] < 28]


def test_a_note_held_into_the_right_context_is_seen_and_replaced_whole(tmp_path, tiny_model, monkeypatch):
    notes = [n for n in scale_melody(8) if not 60 <= n[0] < 68] + [(60, 68, 69)]  # bar 4 into bar 5
    song = write_song(tmp_path / "held.mid", notes, accompaniment=False)
    seen = {}
    real_infill = generate.infill

    def spying_infill(engine, window, target, *args, **kwargs):
        seen["window"], seen["target"] = window.copy(), target
        return real_infill(engine, window, target, *args, **kwargs)

    monkeypatch.setattr(generate, "infill", spying_infill)
    result = run_edit(song, options(num=1, out_dir=tmp_path), tiny_model)
    assert result.ok, result.error
    start, length = seen["target"].start, seen["target"].length
    assert seen["window"][start + length] == pitch_to_token(69)  # not "__"
    line = output_line(result.outputs[0].path)
    # It starts in bar 4, so it belongs to the target: replaced whole, nothing re-struck at bar 5.
    assert not any(note.start_step == 64 and note.pitch == 69 for note in line)


def test_long_infill_chunks_see_both_sides_the_left_as_generated(tmp_path, tiny_model, monkeypatch):
    song = write_song(tmp_path / "long.mid", scale_melody(12))
    calls = []
    real_infill = generate.infill

    def spying_infill(engine, window, target, decoding, seed, candidates, chunk=0, attempt=0, rules=None):
        made = real_infill(engine, window, target, decoding, seed, candidates, chunk=chunk, attempt=attempt,
                           rules=rules)
        calls.append((chunk, attempt, window.copy(), target, made))
        return made

    monkeypatch.setattr(generate, "infill", spying_infill)
    # A pool of two in draw order (--rank none), sampled so that the two differ: output k is member k.
    result = run_edit(song, options(bars=BarRange(3, 8), num=2, pool=2, rank=False, temperature=1.0, out_dir=tmp_path),
                      tiny_model)
    assert result.ok, result.error
    assert not result.redraws
    firsts = [call for call in calls if call[1] == 0]
    # Bars 3-6 in the window of bars 1-8: both sides seen; bars 7-8 in bars 4-11, once per candidate.
    assert [(chunk, target.start, target.length) for chunk, _, _, target, _ in firsts] == [
        (0, 32, 64), (1, 48, 32), (1, 48, 32)]
    song_tokens = encode_notes([StepNote(*note) for note in scale_melody(12)], 12 * 16)
    first_window = firsts[0][2]
    assert np.array_equal(first_window[96:], song_tokens[96:128])  # bars 7-8 as in the song
    for k, (_, _, window, _, _) in enumerate(firsts[1:]):
        final_tokens = result.outputs[k].target_tokens
        assert np.array_equal(window[16:48], final_tokens[32:64])  # bars 5-6 as this candidate made them
        assert np.array_equal(window[80:], song_tokens[128:176])  # bars 9-11 as in the song
    assert [tuple(latent.bars) for latent in result.outputs[0].latents] == [(3, 6), (7, 8)]
    assert len(result.outputs[0].target_tokens) == 6 * 16
    assert any("chunks" in warning for warning in result.warnings)


def test_a_three_four_song_names_both_meters(tmp_path, tiny_model):
    notes = [(step, step + 4, 60 + step % 7) for step in range(0, 12 * 8, 4)]
    song = write_song(tmp_path / "waltz.mid", notes, meter=(3, 4))
    result = run_edit(song, options(out_dir=tmp_path), tiny_model)
    assert isinstance(result.error, InputFileError) and result.exit_code == 3
    assert "waltz.mid is in 3/4" in result.error.message and "4/4 and 2/2" in result.error.message


def test_a_short_song_is_padded_with_a_warning(tmp_path, tiny_model):
    song = write_song(tmp_path / "short.mid", scale_melody(4))
    result = run_edit(song, options(bars=BarRange(2, 3), num=1, out_dir=tmp_path), tiny_model)
    assert result.ok, result.error
    assert any("only 4 bars" in warning for warning in result.warnings)


def test_notes_under_the_melody_in_the_target_are_kept_with_a_warning(tmp_path, tiny_model):
    song = write_song(tmp_path / "chords.mid", scale_melody(8), extra_melody_notes=[(32, 36, 55), (36, 40, 57)])
    result = run_edit(song, options(num=1, out_dir=tmp_path), tiny_model)
    assert result.ok, result.error
    assert any("kept 2 accompaniment notes under the melody in bars 3-4" in warning for warning in result.warnings)
    notes = [(n.start_tick, n.end_tick, n.pitch) for n in melody_of(read_midi(result.outputs[0].path)).notes]
    assert (32 * STEP_TICKS, 36 * STEP_TICKS, 55) in notes and (36 * STEP_TICKS, 40 * STEP_TICKS, 57) in notes


def test_voice_all_replaces_the_chords_of_the_target_with_a_warning(tmp_path, tiny_model):
    song = write_song(tmp_path / "chords.mid", scale_melody(8), extra_melody_notes=[(32, 36, 55), (36, 40, 57)])
    result = run_edit(song, options(num=1, out_dir=tmp_path, voice="all"), tiny_model)
    assert result.ok, result.error
    assert any("hold chords" in warning and "--voice all" in warning for warning in result.warnings)
    notes = [(n.start_tick, n.end_tick, n.pitch) for n in melody_of(read_midi(result.outputs[0].path)).notes]
    assert (32 * STEP_TICKS, 36 * STEP_TICKS, 55) not in notes and (36 * STEP_TICKS, 40 * STEP_TICKS, 57) not in notes
    assert "--voice all" in result.reproduce


@pytest.mark.parametrize(
    ("changes", "message"),
    [(dict(verb="vary", bars=BarRange(1, 5)), "at most 4 bars"), (dict(num=0), "--num"),
     (dict(verb="interpolate", from_original=True, start_file="a.mid"), "--from-original")],
)
def test_option_problems_are_usage_errors(changes, message):
    with pytest.raises(UsageError, match=message):
        check_options(options(**changes))


def test_an_edit_reports_notes_moved_by_quantization_as_show_does(tmp_path, tiny_model, run_clsm):
    from synthetic_midi.midi_factory import TrackSpec, make_midi

    notes = [(start * STEP_TICKS + (40 if index % 3 == 0 else 0), end * STEP_TICKS, pitch, 90)
             for index, (start, end, pitch) in enumerate(scale_melody(8))]
    song = make_midi(tmp_path / "loose.mid", [TrackSpec(notes, name="Melody")], time_signatures=[(0, 4, 4)])
    result = run_edit(song, options(num=1, out_dir=tmp_path / "out"), tiny_model)
    assert result.ok, result.error
    moved = [warning for warning in result.warnings if "off the 16th-note grid" in warning]
    assert len(moved) == 1 and moved[0].startswith("track 1: ")
    assert moved[0] in run_clsm("show", song, "--bars", "3-4").stderr.replace("\n", " ")
