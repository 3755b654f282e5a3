"""``clsm infill / interpolate / vary`` end to end, with a tiny random CLSM passed by ``--model DIR``.

What a user would notice: the right files with the right names, nothing outside the target bars
changed, the target holding exactly the decoded tokens, reproducible seeds, earlier outputs reused,
batches that survive a bad file, clean JSON on stdout, and errors as sentences with exit codes.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from clsm_cli.constants import HOLD_TOKEN, TOKEN_NAMES
from clsm_cli.editing import generate
from clsm_cli.editing.prepare import prepare_song
from clsm_cli.editing.provenance import parse_provenance
from clsm_cli.editing.window import centred_window
from clsm_cli.sampling import ARGMAX
from clsm_cli.engine.torch_engine import TorchEngine
from clsm_cli.music import melody
from clsm_cli.music.bars import BarRange, song_bars
from clsm_cli.music.midi_read import read_midi, read_text_events
from clsm_cli.music.tokens import encode_notes, resolve_leading_hold, sounding_token_at
from tests.music.edit_checks import events_outside
from synthetic_midi.midi_factory import melody_of, scale_melody, write_song

ESCAPE = "\x1b"


@pytest.fixture
def edit_cli(run_clsm, tiny_model_dir, tmp_path):
    """``clsm VERB ... --model tiny --out tmp/out --no-preview``; returns (result, json objects)."""

    def run(verb, *args, out="out", env=None, json_output=True):
        extra = ["--json"] if json_output else []
        result = run_clsm(verb, *args, "--model", str(tiny_model_dir), "--out", str(tmp_path / out), *extra, env=env)
        objects = [json.loads(line) for line in result.stdout.splitlines() if line.strip()] if json_output else []
        return result, objects

    return run


# --- helpers a test reads like a user's checks --------------------------------------------------------


def melody_events_outside(path, first_bar, last_bar):
    """Every event of every chunk but the melody's notes inside the target bars and clsm's provenance."""
    return events_outside(path, BarRange(first_bar, last_bar), channel=melody_of(read_midi(path)).channel)


def target_tokens_in_file(path, first_bar, last_bar):
    """The target bars of a file's melody as tokens (canonical: a tie shows its pitch first)."""
    song = read_midi(path)
    bars = song_bars(song)
    line, _ = melody.reduce_to_monophony(melody.quantize_track(melody_of(song), bars, song.ticks_per_beat).notes)
    start, end = BarRange(first_bar, last_bar).step_span(bars)
    return encode_notes(line, end - start, start_step=start), encode_notes(line, end, start_step=0)


def tokens_from_text(text):
    return np.array([TOKEN_NAMES.index(name) for name in text.replace("|", " ").split()], dtype=np.uint8)


def assert_target_holds(path, decoded_text, first_bar=3, last_bar=4):
    in_file, before = target_tokens_in_file(path, first_bar, last_bar)
    decoded = tokens_from_text(decoded_text)
    if decoded[0] == HOLD_TOKEN:
        decoded = resolve_leading_hold(decoded, sounding_token_at(before, len(before) - len(in_file) - 1))
    assert np.array_equal(in_file, decoded)


# --- infill --------------------------------------------------------------------------------------------


def test_infill_writes_named_outputs_that_change_only_the_target(edit_cli, song, tmp_path):
    before = song.read_bytes()
    result, (record,) = edit_cli("infill", song, "--bars", "3-4", "-n", "3", "--seed", "11")
    assert result.exit_code == 0, result.output
    names = sorted(path.name for path in (tmp_path / "out").iterdir())
    assert names == [f"song.infill-bars3-4-s11-{k}.mid" for k in (1, 2, 3)]
    assert record["seed"] == 11 and record["bars"] == [3, 4] and record["error"] is None
    assert record["octave_shift"] == 0
    original_events = melody_events_outside(song, 3, 4)
    for output in record["outputs"]:
        assert melody_events_outside(output["path"], 3, 4) == original_events
        assert_target_holds(output["path"], output["target_tokens"])
        assert len(parse_provenance(read_text_events(output["path"]))) == 1
    assert song.read_bytes() == before


def test_same_seed_same_files_other_seed_other_files_beside_them(edit_cli, song, tmp_path):
    args = ("infill", song, "--bars", "3-4", "-n", "2", "--temperature", "1")
    first, _ = edit_cli(*args, "--seed", "5", out="a")
    again, _ = edit_cli(*args, "--seed", "5", out="b")
    other, _ = edit_cli(*args, "--seed", "6", out="a")
    assert first.exit_code == again.exit_code == other.exit_code == 0
    for k in (1, 2):
        name = f"song.infill-bars3-4-s5-{k}.mid"
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert len(list((tmp_path / "a").iterdir())) == 4  # the new seed wrote beside the old files
    tokens = lambda seed, k: target_tokens_in_file(tmp_path / "a" / f"song.infill-bars3-4-s{seed}-{k}.mid", 3, 4)[0]  # noqa: E731
    assert not all(np.array_equal(tokens(5, k), tokens(6, k)) for k in (1, 2))


def test_existing_outputs_are_kept_without_force(edit_cli, song, tmp_path):
    edit_cli("infill", song, "--bars", "3-4", "-n", "1", "--seed", "2")
    path = tmp_path / "out" / "song.infill-bars3-4-s2-1.mid"
    path.write_bytes(b"mine")
    refused, (record,) = edit_cli("infill", song, "--bars", "3-4", "-n", "1", "--seed", "2")
    assert refused.exit_code == 5 and "already exists" in refused.stderr and "--force" in record["error"]
    assert path.read_bytes() == b"mine"
    forced, _ = edit_cli("infill", song, "--bars", "3-4", "-n", "1", "--seed", "2", "--force")
    assert forced.exit_code == 0 and path.read_bytes().startswith(b"MThd")


def test_a_batch_with_a_corrupt_file_writes_the_rest_and_exits_3(edit_cli, song, tmp_path):
    other = write_song(tmp_path / "other.mid", scale_melody(8, first_pitch=62))
    corrupt = tmp_path / "corrupt.mid"
    corrupt.write_bytes(b"MThd\x00\x00\x00\x06\x00\x01\x00\x02\x01\xe0MTrk\x00\x00\xff\xff")
    result, records = edit_cli("infill", song, corrupt, other, "--bars", "3-4", "-n", "2", "--seed", "1")
    assert result.exit_code == 3
    assert [r["ok"] for r in records] == [True, False, True]
    assert records[1]["exit_code"] == 3 and records[1]["outputs"] == []
    assert len(list((tmp_path / "out").iterdir())) == 4
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1 and "corrupt.mid" in error_lines[0]
    assert "Traceback" not in result.output
    assert "2 of 3 files edited, 1 failed, outputs in" in result.stderr


def test_json_is_the_only_thing_on_stdout(edit_cli, song):
    result, records = edit_cli("infill", song, "--bars", "3-4", "-n", "2", "--seed", "4", "--preview")
    assert result.exit_code == 0
    assert len(result.stdout.strip().splitlines()) == 1
    (record,) = records
    assert set(record) >= {"input", "outputs", "seed", "model", "bars", "warnings", "error", "reproduce"}
    assert record["reproduce"].startswith("clsm infill") and "--seed 4" in record["reproduce"]
    assert "song.infill-bars3-4-s4-2.mid" in result.stderr  # preview titles and the summary went to stderr


def test_seed_is_drawn_and_reported_when_not_given(edit_cli, song, tmp_path):
    result, (record,) = edit_cli("infill", song, "--bars", "3-4", "-n", "1")
    seed = record["seed"]
    assert result.exit_code == 0 and f"seed {seed}" in result.stderr
    assert (tmp_path / "out" / f"song.infill-bars3-4-s{seed}-1.mid").exists()


def test_combined_file_holds_every_candidate_as_a_track(edit_cli, song, tmp_path):
    result, (record,) = edit_cli("infill", song, "--bars", "3-4", "-n", "3", "--seed", "1", "--combined")
    assert result.exit_code == 0
    combined = read_midi(record["combined"])
    names = [track.name for track in combined.tracks]
    assert [f"candidate {k}" for k in (1, 2, 3)] == [name for name in names if name.startswith("candidate")]


def test_wav_renders_each_output(edit_cli, song, tmp_path):
    result, (record,) = edit_cli("infill", song, "--bars", "3-4", "-n", "1", "--seed", "1", "--wav")
    assert result.exit_code == 0, result.output
    wav = record["outputs"][0]["wav"]
    assert wav.endswith(".wav") and open(wav, "rb").read(4) == b"RIFF"


# --- interpolate ---------------------------------------------------------------------------------------


def test_interpolate_writes_steps_plus_one_files_ending_on_infill_candidates_one_and_two(edit_cli, song):
    result, (record,) = edit_cli("interpolate", song, "--bars", "3-4", "--steps", "4", "--seed", "3",
                                 "--temperature", "1", "--combined")
    assert result.exit_code == 0, result.output
    assert [output["path"].rsplit("-", 1)[1] for output in record["outputs"]] == [f"{k}.mid" for k in range(1, 6)]
    _, (infills,) = edit_cli("infill", song, "--bars", "3-4", "-n", "2", "--seed", "3", "--temperature", "1",
                             out="infills")
    for output, infilled in ((record["outputs"][0], infills["outputs"][0]), (record["outputs"][-1], infills["outputs"][1])):
        assert output["latents"][0]["w"] == infilled["latents"][0]["w"]
        assert output["target_tokens"] == infilled["target_tokens"]
        assert_target_holds(output["path"], output["target_tokens"])
    sequence = read_midi(record["combined"])
    assert sum(len(track.notes) for track in sequence.tracks) > 0


def test_interpolate_between_two_earlier_outputs_reuses_their_w(edit_cli, song, tmp_path):
    infill, (made,) = edit_cli("infill", song, "--bars", "3-4", "-n", "3", "--seed", "8", out="infills")
    start, end = made["outputs"][0], made["outputs"][2]
    result, (record,) = edit_cli("interpolate", song, "--bars", "3-4", "--steps", "2", "--start", start["path"],
                                 "--end", end["path"], "--seed", "1")
    assert result.exit_code == 0, result.output
    assert record["outputs"][0]["latents"][0]["w"] == start["latents"][0]["w"]
    assert record["outputs"][-1]["latents"][0]["w"] == end["latents"][0]["w"]
    # The endpoints are the infills themselves.
    assert record["outputs"][0]["target_tokens"] == start["target_tokens"]
    assert record["outputs"][-1]["target_tokens"] == end["target_tokens"]
    assert record["warnings"] == []


def test_a_file_from_elsewhere_is_encoded(edit_cli, song, tmp_path):
    stranger = write_song(tmp_path / "stranger.mid", scale_melody(10, first_pitch=64))
    result, (record,) = edit_cli("interpolate", song, "--bars", "3-4", "--steps", "1", "--end", stranger)
    assert result.exit_code == 0, result.output
    assert any("stranger.mid" in w and "encoded" in w for w in record["warnings"])


# --- vary ----------------------------------------------------------------------------------------------


def test_vary_amount_zero_reproduces_its_centre(edit_cli, song):
    varied, (record,) = edit_cli("vary", song, "--bars", "3-4", "--amount", "0", "-n", "2", "--seed", "1")
    original, (morph,) = edit_cli("interpolate", song, "--bars", "3-4", "--steps", "1", "--from-original",
                                  "--seed", "1")
    assert varied.exit_code == original.exit_code == 0
    centre = morph["outputs"][0]  # the encoded existing bars
    for output in record["outputs"]:
        assert output["latents"][0]["w"] == centre["latents"][0]["w"]
        assert output["target_tokens"] == centre["target_tokens"]


@pytest.mark.parametrize("amount", ["-0.1", "4.5", "inf", "1e30", "nan"])
def test_vary_amount_outside_its_documented_range_is_a_usage_error(edit_cli, song, amount):
    result, _ = edit_cli("vary", song, "--bars", "3-4", f"--amount={amount}", json_output=False)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "--amount must be a number from 0 to 4" in result.stderr


def test_vary_around_an_earlier_output(edit_cli, song):
    _, (made,) = edit_cli("infill", song, "--bars", "3-4", "-n", "1", "--seed", "9", out="infills")
    around = made["outputs"][0]
    result, (record,) = edit_cli("vary", song, "--bars", "3-4", "--around", around["path"], "--amount", "0",
                                 "-n", "1", "--seed", "2")
    assert result.exit_code == 0
    assert record["outputs"][0]["target_tokens"] == around["target_tokens"]
    moved, (far,) = edit_cli("vary", song, "--bars", "3-4", "--around", around["path"], "--amount", "3",
                             "-n", "2", "--seed", "2", out="far")
    assert far["outputs"][0]["latents"][0]["w"] != around["latents"][0]["w"]


# --- errors and output hygiene ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bars", "code", "words"),
    [("9-12", 3, "past the end of song.mid (10 bars)"), ("1-11", 3, "past the end"),
     ("4-3", 2, "--bars must look like"), ("three", 2, "--bars must look like")],
)
def test_bad_bar_ranges_are_sentences_with_exit_codes(edit_cli, song, bars, code, words):
    result, _ = edit_cli("infill", song, "--bars", bars, json_output=False)
    assert result.exit_code == code
    assert words in result.stderr and "Traceback" not in result.output


def test_a_three_four_song_is_refused_for_a_four_four_model(edit_cli, tmp_path):
    waltz = write_song(tmp_path / "waltz.mid", [(s, s + 4, 62) for s in range(0, 96, 4)], meter=(3, 4))
    result, _ = edit_cli("vary", waltz, "--bars", "2-3", json_output=False)
    assert result.exit_code == 3
    assert "waltz.mid is in 3/4" in result.stderr and "4/4" in result.stderr


def test_a_missing_model_lists_what_is_installed(run_clsm, song, tmp_path, monkeypatch):
    monkeypatch.setenv("CLSM_HOME", str(tmp_path / "home"))
    result = run_clsm("infill", song, "--bars", "3-4", "--model", "nonesuch")
    assert result.exit_code == 4 and "nonesuch" in result.stderr and "installed models" in result.stderr


def test_no_escape_codes_when_piped_or_with_no_color(edit_cli, song):
    piped, _ = edit_cli("infill", song, "--bars", "3-4", "-n", "1", "--seed", "1", json_output=False, out="a")
    assert piped.exit_code == 0 and piped.stdout == ""  # no previews into a pipe
    assert ESCAPE not in piped.output
    forced, _ = edit_cli("infill", song, "--bars", "3-4", "-n", "1", "--seed", "1", "--preview", json_output=False,
                         out="b", env={"NO_COLOR": "1", "FORCE_COLOR": None})
    assert forced.exit_code == 0 and "song.infill-bars3-4-s1-1.mid" in forced.stdout
    assert ESCAPE not in forced.output


def test_previews_dim_the_context_and_mark_the_target(edit_cli, song):
    result, _ = edit_cli("infill", song, "--bars", "3-4", "-n", "1", "--seed", "1", "--preview", json_output=False,
                         env={"FORCE_COLOR": "1"})
    assert result.exit_code == 0
    assert ESCAPE in result.stdout  # colour when asked for on a terminal-like console
    assert "^^^^" in result.stdout and "song.infill-bars3-4-s1-1.mid" in result.stdout


def test_the_edit_commands_import_no_torch_until_they_run():
    code = "import sys; import clsm_cli.cli.app; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


# --- a model that knows one song by heart ----------------------------------------------------------


def tie_song_notes():
    """8 bars: a note held over the bar 2|3 line into the target and one from bar 4 into bar 5."""
    notes = [n for n in scale_melody(8) if not (28 <= n[0] < 36 or 60 <= n[0] < 68)]
    return sorted(notes + [(28, 36, 67), (60, 68, 69)])


@pytest.fixture(scope="module")
def overfit_model_dir(tmp_path_factory):
    """A tiny CLSM trained on the one window clsm cuts from the tie song for bars 3-4, until the
    posterior mean decodes those bars back (kept short: it stops as soon as they match)."""
    from clsm_cli.checkpoint import save_model
    from clsm_cli.models.config import preset_config
    from clsm_cli.models.registry import build_model

    folder = tmp_path_factory.mktemp("overfit")
    song = write_song(folder / "tie.mid", tie_song_notes(), accompaniment=False)
    torch.manual_seed(0)
    model = build_model(preset_config("clsm", "tiny"))
    scratch = save_model(model, folder / "scratch")
    prepared = prepare_song(song, BarRange(3, 4), None)
    window = centred_window(prepared, prepared.line, BarRange(3, 4), model.config)
    tokens = torch.as_tensor(window.tokens.astype(np.int64)).unsqueeze(0)  # (1, 128)
    start, length = window.target.start, window.target.length
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(0)
    for step in range(1, 301):
        model.train()
        loss = model.forward_loss(tokens, start, length, kl_weight=0.0, generator=generator)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 10 == 0:
            model.eval()
            engine = TorchEngine(model, "cpu")
            w = generate.encode_w(engine, window.tokens, window.target)
            (decoded,) = generate.decode_w(engine, window.tokens, window.target, w[None], ARGMAX, None)
            if np.array_equal(decoded.tokens, window.tokens[start : start + length]):
                break
    return save_model(model.eval(), folder / "overfit"), window


@pytest.mark.slow
def test_from_original_reconstructs_the_bars_of_a_model_that_knows_them(run_clsm, overfit_model_dir, tmp_path):
    model_dir, window = overfit_model_dir
    song = write_song(tmp_path / "tie.mid", tie_song_notes(), accompaniment=False)
    result = run_clsm("interpolate", song, "--bars", "3-4", "--steps", "1", "--from-original", "--temperature", "0",
                      "--seed", "1", "--model", model_dir, "--out", tmp_path / "out", "--json")
    assert result.exit_code == 0, result.output
    (record,) = [json.loads(line) for line in result.stdout.splitlines()]
    start, length = window.target.start, window.target.length
    original = window.tokens[start : start + length]
    assert original[0] == HOLD_TOKEN  # the target starts inside the note held over from bar 2
    first = record["outputs"][0]
    assert np.array_equal(tokens_from_text(first["target_tokens"]), original)
    # In the file: the original bars themselves (the endpoint is a copy): the bar-2 note held into the
    # target keeps its events, and the note of bar 4 that sounds into bar 5 is written whole.
    line = [(n.start_step, n.end_step, n.pitch) for n in
            melody.reduce_to_monophony(melody.quantize_track(melody_of(read_midi(first["path"])),
                                                             song_bars(read_midi(first["path"])), 480).notes)[0]]
    original_line = [(n.start_step, n.end_step, n.pitch) for n in
                     melody.reduce_to_monophony(melody.quantize_track(melody_of(read_midi(song)),
                                                                      song_bars(read_midi(song)), 480).notes)[0]]
    assert line == original_line
    assert_target_holds(first["path"], first["target_tokens"])
