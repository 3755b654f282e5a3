"""edit_files.py: windows, ties, splicing, provenance and whole-file edits with a tiny random CLSM.

The helpers at the top (``tiny_model_dir``, ``write_song``, ``STEP_TICKS``) are also used by the CLI
tests in ``tests/cli/test_edit_commands.py``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from clsm_cli import edit, edit_files
from clsm_cli.constants import HOLD_TOKEN, REST_TOKEN
from clsm_cli.errors import InputFileError, UsageError
from clsm_cli.music import melody, midi_io
from clsm_cli.music.bars import song_bars
from clsm_cli.music.tokens import StepNote, pitch_to_token
from tests.midi_factory import TrackSpec, make_midi, melody_track

STEP_TICKS = 120  # one 16th at 480 ticks per quarter


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A randomly initialised tiny CLSM saved like any installed model."""
    from clsm_cli.checkpoint import save_model
    from clsm_cli.models.config import preset_config
    from clsm_cli.models.registry import build_model

    torch.manual_seed(0)
    return save_model(build_model(preset_config("clsm", "tiny")), tmp_path_factory.mktemp("models") / "tiny-test")


@pytest.fixture(scope="session")
def tiny_model(tiny_model_dir):
    return edit_files.load_edit_model(str(tiny_model_dir), "cpu")


def scale_melody(num_bars: int, first_pitch: int = 60) -> list[tuple[int, int, int]]:
    """Quarter notes up and down a C major scale: (start_step, end_step, pitch), none crossing a bar."""
    scale = [0, 2, 4, 5, 7, 9, 11, 12, 11, 9, 7, 5, 4, 2]
    return [(step, step + 4, first_pitch + scale[index % len(scale)])
            for index, step in enumerate(range(0, num_bars * 16, 4))]


def write_song(path, notes, meter=(4, 4), accompaniment=True, extra_melody_notes=()):
    """A type-1 song: the melody (ch 1) plus, optionally, a bass, drums and a tempo change."""
    tracks = [melody_track(list(notes) + list(extra_melody_notes), ticks_per_step=STEP_TICKS, name="Melody")]
    if accompaniment:
        end = max(note[1] for note in notes)
        bass = [(step, step + 8, 36 + (step // 16) % 5) for step in range(0, end, 8)]
        drums = [(step * STEP_TICKS, step * STEP_TICKS + 60, 42, 80) for step in range(0, end, 2)]
        tracks += [
            melody_track(bass, ticks_per_step=STEP_TICKS, name="Bass", channel=1, program=33),
            TrackSpec(drums, channel=9, program=None, name="Drums"),
        ]
    return make_midi(path, tracks, time_signatures=[(0, *meter)], tempos=[(0, 500_000), (16 * STEP_TICKS, 450_000)])


def options(verb="infill", first=3, last=4, seed=1, out_dir=".", **values) -> edit_files.EditOptions:
    values.setdefault("temperature", 0.0)
    return edit_files.EditOptions(verb=verb, first_bar=first, last_bar=last, seed=seed, out_dir=out_dir, **values)


def melody_of(song):
    return next(track for track in song.tracks if track.name == "Melody")


def output_line(path):
    """The melody line of a written file, quantized like clsm does."""
    song = midi_io.read_midi(path)
    bars = song_bars(song)
    track = melody_of(song)
    line, _ = melody.reduce_to_monophony(melody.quantize_track(track, bars, song.ticks_per_beat).notes)
    return line


# --- the model's window --------------------------------------------------------------------------


def test_window_shifts_one_octave_into_range_and_folds_outliers():
    line = [StepNote(0, 4, 43), StepNote(4, 8, 47), StepNote(8, 12, 50), StepNote(12, 16, 20)]
    window = edit_files.build_window(line, 0, 16, 16, 128)
    assert window.octave_shift == 12  # 43, 47, 50 -> 55, 59, 62; 20 folds up for the model only
    assert list(window.tokens[[0, 4, 8, 12]]) == [pitch_to_token(p) for p in (55, 59, 62, 56)]


def test_window_gives_the_right_context_the_pitch_of_a_note_held_into_it():
    line = [StepNote(0, 20, 60), StepNote(20, 40, 64), StepNote(40, 48, 67)]  # 64 sounds across step 32
    window = edit_files.build_window(line, 0, 16, 16, 128)
    assert window.tokens[32] == pitch_to_token(64)
    assert window.tokens[16] == HOLD_TOKEN  # the target's own leading hold stays for the encoder


def test_window_right_context_inside_a_rest_starts_with_rest():
    line = [StepNote(0, 20, 60), StepNote(40, 48, 67)]
    window = edit_files.build_window(line, 0, 16, 16, 128)
    assert window.tokens[32] == REST_TOKEN


def test_window_before_the_song_start_is_rest_and_canonical():
    window = edit_files.build_window([StepNote(0, 8, 60)], -64, 0, 64, 128)
    assert window.target == (64, 64)
    assert window.tokens[0] == REST_TOKEN and np.all(window.tokens[1:64] == HOLD_TOKEN)
    assert window.tokens[64] == pitch_to_token(60)


@pytest.mark.parametrize(
    ("num_bars", "first", "last", "expected"),
    [(20, 9, 10, (6, 13)), (20, 1, 2, (1, 8)), (20, 19, 20, (13, 20)), (5, 2, 3, (1, 5)), (20, 3, 6, (1, 8))],
)
def test_centred_window_bars_are_clamped_to_the_song(num_bars, first, last, expected):
    assert edit_files.centred_window_bars(num_bars, first, last, 8) == expected


def test_long_targets_split_into_four_bar_chunks_left_to_right():
    assert edit_files.target_chunks(3, 12) == [(3, 6), (7, 10), (11, 12)]
    assert edit_files.target_chunks(5, 5) == [(5, 5)]
    assert edit_files.chunk_seed(7, 1, 0) == edit_files.chunk_seed(7, 1, 0) != edit_files.chunk_seed(7, 1, 1)


# --- tokens back to notes ------------------------------------------------------------------------


def test_leading_hold_ties_onto_the_note_sounding_before():
    line = [StepNote(8, 20, 72)]
    window = edit_files.build_window(line, 0, 16, 16, 128)  # shift 0
    tokens = np.array([HOLD_TOKEN] * 4 + [pitch_to_token(67)] + [HOLD_TOKEN] * 11, dtype=np.uint8)
    notes = edit_files.target_notes(tokens, window, line)
    assert notes == [StepNote(16, 20, 72, tied_from_before=True), StepNote(20, 32, 67)]
    spliced = edit_files.splice(line, 16, 32, notes)
    assert spliced == [StepNote(8, 20, 72), StepNote(20, 32, 67)]  # its start stays, its end moved
    assert edit_files.notes_for_writer(spliced, 16, 32) == notes


def test_leading_hold_after_a_rest_is_more_rest():
    line = [StepNote(0, 8, 72)]
    window = edit_files.build_window(line, 0, 16, 16, 128)
    tokens = np.array([HOLD_TOKEN] * 8 + [pitch_to_token(67)] + [HOLD_TOKEN] * 7, dtype=np.uint8)
    assert edit_files.target_notes(tokens, window, line) == [StepNote(24, 32, 67)]


def test_generated_pitches_are_shifted_back_to_the_songs_octave():
    line = [StepNote(0, 16, 43), StepNote(32, 48, 45)]
    window = edit_files.build_window(line, 0, 16, 16, 128)
    tokens = np.array([pitch_to_token(60)] + [HOLD_TOKEN] * 15, dtype=np.uint8)
    assert edit_files.target_notes(tokens, window, line) == [StepNote(16, 32, 48)]


def test_splice_cuts_notes_at_the_left_and_restrikes_them_at_the_right():
    line = [StepNote(0, 20, 60), StepNote(28, 40, 64), StepNote(40, 44, 65)]
    spliced = edit_files.splice(line, 16, 32, [StepNote(16, 24, 70)])
    assert spliced == [StepNote(0, 16, 60), StepNote(16, 24, 70), StepNote(32, 40, 64), StepNote(40, 44, 65)]


def test_a_tie_through_the_whole_target_keeps_one_note():
    line = [StepNote(8, 40, 60)]
    spliced = edit_files.splice(line, 16, 32, [StepNote(16, 32, 60, tied_from_before=True)])
    assert spliced == [StepNote(8, 40, 60)]


# --- provenance ----------------------------------------------------------------------------------


def test_provenance_round_trips_w_exactly(tiny_model):
    w = np.random.default_rng(0).normal(size=tiny_model.config.z_dim).astype(np.float32)
    result = edit_files.FileResult(input=__file__, verb="infill", seed=5, model=tiny_model.name,
                                   model_sha256=tiny_model.sha256, first_bar=3, last_bar=4)
    record = edit_files.provenance_record(result, 2, [edit_files.Latent(3, 4, w)], 1, options(seed=5))
    text = edit_files.provenance_text(record)
    records = edit_files.parse_provenance(["some other text", text, "clsm-provenance {not json"])
    assert len(records) == 1 and records[0]["seed"] == 5 and records[0]["k"] == 2
    assert "clsm infill" in records[0]["command"] and "--seed 5" in records[0]["command"]
    stored = edit_files.stored_latent(records, 3, 4, tiny_model)
    assert stored is not None and np.array_equal(stored, w)
    assert edit_files.stored_latent(records, 5, 6, tiny_model) is None  # other bars
    other_model = edit_files.EditModel(tiny_model.model, tiny_model.config, tiny_model.name, "0" * 16,
                                       tiny_model.directory, "cpu")
    assert edit_files.stored_latent(records, 3, 4, other_model) is None


def test_the_newest_edit_of_the_bars_decides_which_w_is_stored(tiny_model):
    def record(generation, bars, w):
        return {"model": tiny_model.name, "model_sha256": tiny_model.sha256, "generation": generation,
                "bars": bars, "latents": [{"bars": bars, "w": edit_files.encode_w(w)}]}

    old, new = np.zeros(tiny_model.config.z_dim, np.float32), np.ones(tiny_model.config.z_dim, np.float32)
    assert np.array_equal(edit_files.stored_latent([record(2, [3, 4], new), record(1, [3, 4], old)], 3, 4, tiny_model), new)
    # A later edit of bars 4-5 changed bar 4: the old w no longer describes bars 3-4.
    assert edit_files.stored_latent([record(1, [3, 4], old), record(2, [4, 5], new)], 3, 4, tiny_model) is None


# --- whole files ---------------------------------------------------------------------------------


def test_infill_file_writes_n_outputs_and_records_them(tmp_path, tiny_model):
    song = write_song(tmp_path / "song.mid", scale_melody(10))
    result = edit_files.edit_file(song, options(num=3, out_dir=tmp_path / "out"), tiny_model)
    assert result.ok, result.error
    assert [output.path.name for output in result.outputs] == [
        f"song.infill-bars3-4-s1-{k}.mid" for k in (1, 2, 3)
    ]
    data = result.to_json()
    assert data["bars"] == [3, 4] and data["seed"] == 1 and len(data["outputs"]) == 3
    assert all(len(output["latents"][0]["w"]) == tiny_model.config.z_dim for output in data["outputs"])
    records = edit_files.parse_provenance(midi_io.read_text_events(result.outputs[0].path))
    assert len(records) == 1 and np.array_equal(edit_files.decode_w(records[0]["latents"][0]["w"]),
                                                  result.outputs[0].latents[0].w)


def test_a_generated_leading_hold_extends_the_note_before(tmp_path, tiny_model, monkeypatch):
    # Bar 2 ends with a note held over the bar line into bar 3; the "model" continues it.
    notes = [n for n in scale_melody(8) if not 28 <= n[0] < 36] + [(28, 36, 67)]
    song = write_song(tmp_path / "tie.mid", notes, accompaniment=False)
    generated = np.array([HOLD_TOKEN] * 6 + [pitch_to_token(72)] + [HOLD_TOKEN] * 25, dtype=np.uint8)

    def fake_infill(model, window, target, n, seed, temperature, top_p):
        return [edit.Candidate(generated.copy(), np.zeros(model.config.z_dim, np.float32)) for _ in range(n)]

    monkeypatch.setattr(edit, "infill", fake_infill)
    result = edit_files.edit_file(song, options(num=1, out_dir=tmp_path), tiny_model)
    assert result.ok, result.error
    line = output_line(result.outputs[0].path)
    assert StepNote(28, 38, 67) in line  # same start, its end moved from step 36 to 38
    assert StepNote(38, 64, 72) in line
    assert [n for n in line if n.start_step < 28] == [StepNote(*n[:2], n[2]) for n in notes if n[0] < 28]


def test_a_note_held_into_the_right_context_is_given_and_restruck(tmp_path, tiny_model, monkeypatch):
    notes = [n for n in scale_melody(8) if not 60 <= n[0] < 68] + [(60, 68, 69)]  # bar 4 into bar 5
    song = write_song(tmp_path / "held.mid", notes, accompaniment=False)
    seen = {}
    real_infill = edit.infill

    def spying_infill(model, window, target, **kwargs):
        seen["window"], seen["target"] = window.copy(), target
        return real_infill(model, window, target, **kwargs)

    monkeypatch.setattr(edit, "infill", spying_infill)
    result = edit_files.edit_file(song, options(num=1, out_dir=tmp_path), tiny_model)
    assert result.ok, result.error
    start, length = seen["target"]
    assert seen["window"][start + length] == pitch_to_token(69)  # not "__"
    line = output_line(result.outputs[0].path)
    assert StepNote(64, 68, 69) in line  # the outside part, re-struck at bar 5


def test_long_infill_fills_chunks_left_context_first(tmp_path, tiny_model, monkeypatch):
    song = write_song(tmp_path / "long.mid", scale_melody(12))
    targets = []
    real_infill = edit.infill

    def spying_infill(model, window, target, **kwargs):
        targets.append(target)
        return real_infill(model, window, target, **kwargs)

    monkeypatch.setattr(edit, "infill", spying_infill)
    result = edit_files.edit_file(song, options(first=3, last=8, num=2, out_dir=tmp_path), tiny_model)
    assert result.ok, result.error
    assert targets[0] == (64, 64)  # bars 3-6 end their window: only the left context is seen
    assert targets[1:] == [(48, 32), (48, 32)]  # bars 7-8, centred, once per candidate
    assert [(l.first_bar, l.last_bar) for l in result.outputs[0].latents] == [(3, 6), (7, 8)]
    assert len(result.outputs[0].target_tokens) == 6 * 16
    assert any("chunks" in warning for warning in result.warnings)


def test_a_three_four_song_names_both_meters(tmp_path, tiny_model):
    notes = [(step, step + 4, 60 + step % 7) for step in range(0, 12 * 8, 4)]
    song = write_song(tmp_path / "waltz.mid", notes, meter=(3, 4))
    result = edit_files.edit_file(song, options(out_dir=tmp_path), tiny_model)
    assert isinstance(result.error, InputFileError) and result.exit_code == 3
    assert "waltz.mid is in 3/4" in result.error.message and "4/4 and 2/2" in result.error.message


def test_a_short_song_is_padded_with_a_warning(tmp_path, tiny_model):
    song = write_song(tmp_path / "short.mid", scale_melody(4))
    result = edit_files.edit_file(song, options(first=2, last=3, num=1, out_dir=tmp_path), tiny_model)
    assert result.ok, result.error
    assert any("only 4 bars" in warning for warning in result.warnings)


def test_chords_in_the_target_are_replaced_with_a_warning(tmp_path, tiny_model):
    song = write_song(tmp_path / "chords.mid", scale_melody(8), extra_melody_notes=[(32, 36, 55), (36, 40, 57)])
    result = edit_files.edit_file(song, options(num=1, out_dir=tmp_path), tiny_model)
    assert result.ok, result.error
    assert any("chords" in warning for warning in result.warnings)
    line = melody_of(midi_io.read_midi(result.outputs[0].path)).notes
    assert not any(note.pitch in (55, 57) for note in line)


@pytest.mark.parametrize(
    ("changes", "message"),
    [(dict(verb="vary", first=1, last=5), "at most 4 bars"), (dict(num=0), "--num"),
     (dict(verb="interpolate", from_original=True, start_file="a.mid"), "--from-original")],
)
def test_option_problems_are_usage_errors(changes, message):
    with pytest.raises(UsageError, match=message):
        edit_files.check_options(options(**changes))
