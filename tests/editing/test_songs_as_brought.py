"""Songs as musicians bring them, edited end to end: the melody track chosen once per song and
named, a warning for a silent target, a piano part's accompaniment kept under a new tune, and every
note outside the target bars kept event for event."""

from __future__ import annotations

import json

import pytest

from clsm_cli.editing.options import EditOptions, command_decoding
from clsm_cli.editing.prepare import prepare_song
from clsm_cli.editing.verbs import edit_file
from clsm_cli.music.bars import BarRange
from tests.music.edit_checks import mido_notes, outside_target_changes
from tests.music.realistic_songs import BAR, POP_ORDER, piano_song, pop_song


def run_edit(path, loaded, **values):
    values.setdefault("temperature", 0.0)
    values.setdefault("num", 1)
    options = EditOptions(verb=values.pop("verb", "infill"), bars=values.pop("bars", BarRange(3, 4)),
                          seed=values.pop("seed", 1), **values)
    return edit_file(path, options, loaded, command_decoding(loaded.config, options.temperature, options.top_p))


def write(tmp_path, name, song):
    path = tmp_path / name
    path.write_bytes(song.data)
    return path


# --- one melody track per song, named -------------------------------------------------------------


def test_the_melody_is_chosen_once_per_song_whatever_the_bars(tmp_path):
    path = write(tmp_path, "pop.mid", pop_song("Melody"))
    chosen = {prepare_song(path, bars, None).track.name for bars in (None, BarRange(1, 2), BarRange(5, 6), BarRange(15, 16))}
    assert chosen == {"Melody"}
    prepared = prepare_song(path, None, None)
    assert prepared.choice.reason.startswith(f"track {prepared.track.number} 'Melody': named melody")
    assert "Lead Guitar" in " ".join(candidate.reason for candidate in prepared.choice.runners_up)


def test_show_says_why_it_chose_the_melody_and_lists_the_runners_up(run_clsm, tmp_path):
    path = write(tmp_path, "pop.mid", pop_song("Lead Vocal"))
    result = run_clsm("show", path)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    reason = next(line for line in lines if line.startswith("melody track:"))
    assert "'Lead Vocal': named vocal" in reason and "covers" in reason
    runners_up = [line for line in lines if line.strip().startswith("runner-up:")]
    assert 1 <= len(runners_up) <= 3 and any("Lead Guitar" in line for line in runners_up)


@pytest.mark.parametrize("name", ["Melody", "Vocals", "Lead Vox", "Tune"])
def test_show_names_the_melody_of_every_pop_song(run_clsm, tmp_path, name):
    orders = (POP_ORDER, tuple(reversed(POP_ORDER)), ("lead_guitar", "melody", "bass", "pad", "drums"))
    for seed, order in enumerate(orders):
        song = pop_song(name, order=order, jitter=6 * seed, seed=seed)
        path = write(tmp_path, f"pop-{seed}.mid", song)
        result = run_clsm("show", path)
        assert result.exit_code == 0, result.output
        marked = next(line for line in result.stdout.splitlines() if "◀ melody" in line)
        assert name in marked


def test_every_edit_names_its_track_in_the_summary_and_json(run_clsm, tiny_model_dir, tmp_path):
    path = write(tmp_path, "pop.mid", pop_song("Melody"))
    result = run_clsm("infill", path, "--bars", "5-6", "-n", "1", "--seed", "3", "--model", str(tiny_model_dir),
                      "--out", str(tmp_path / "out"), "--json", "--no-preview")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    track = prepare_song(path, None, None).track
    assert record["track"] == f"{track.number} (Melody)"
    lines = result.stderr.splitlines()
    row = next(index for index, line in enumerate(lines) if line.startswith("pop.mid"))
    assert lines[row + 1].strip() == f"track {track.number} (Melody)"


def test_a_target_where_the_chosen_track_is_silent_gets_a_warning(run_clsm, tiny_model_dir, tmp_path):
    path = write(tmp_path, "pop.mid", pop_song("Melody"))  # the lead guitar rests in bars 1-4
    result = run_clsm("infill", path, "--bars", "1-2", "--track", "Lead Guitar", "-n", "1", "--seed", "3",
                      "--model", str(tiny_model_dir), "--out", str(tmp_path / "out"), "--json", "--no-preview")
    assert result.exit_code == 0, result.output
    warnings = json.loads(result.stdout)["warnings"]
    silent = [w for w in warnings if "has no notes in or around bars 1-2" in w]
    assert len(silent) == 1 and "Lead Guitar" in silent[0] and "--track" in silent[0]
    assert "has no notes in or around bars 1-2" in result.stderr


# --- a piano part keeps its accompaniment --------------------------------------------------------


def piano_notes_in(notes, first_bar, last_bar):
    return [note for note in notes if (first_bar - 1) * BAR <= note[0] < last_bar * BAR]


@pytest.mark.parametrize("jitter", [0, 8])
def test_a_piano_part_keeps_every_accompaniment_note_under_the_new_tune(tmp_path, tiny_model, jitter):
    song, right, left = piano_song(jitter=jitter, seed=4)
    path = write(tmp_path, "piano.mid", song)
    result = run_edit(path, tiny_model, out_dir=tmp_path, track="Piano")
    assert result.ok, result.error
    output = result.outputs[0].path
    kept = [w for w in result.warnings if w.startswith("kept ")]
    assert kept == [f"kept {len(piano_notes_in(left, 3, 4))} accompaniment notes under the melody in bars 3-4 "
                    "of track 2 (Piano) (only its top voice is edited; --voice all replaces every note)"]
    # Every left-hand note of bars 3-4 is in the output exactly as in the input (ticks, velocity).
    before = [(n.pitch, n.velocity, n.start_tick, n.end_tick) for n in mido_notes(path) if n.channel == 0]
    after = [(n.pitch, n.velocity, n.start_tick, n.end_tick) for n in mido_notes(output) if n.channel == 0]
    under = [note for note in before if note[0] < 60 and 2 * BAR - 20 <= note[2] < 4 * BAR - 20]
    assert len(under) == 12 and all(note in after for note in under)
    # The tune of bars 3-4 is what changed; nothing outside the target did.
    changes = outside_target_changes(path, output, BarRange(3, 4))
    assert changes.missing == []


def test_voice_all_replaces_the_whole_piano_part_in_the_target(tmp_path, tiny_model):
    song, right, left = piano_song(seed=4)
    path = write(tmp_path, "piano.mid", song)
    result = run_edit(path, tiny_model, out_dir=tmp_path, track="Piano", voice="all")
    assert result.ok, result.error
    after = {(n.pitch, n.start_tick, n.end_tick) for n in mido_notes(result.outputs[0].path) if n.channel == 0}
    assert not any((pitch, start, end) in after for start, end, pitch, _ in piano_notes_in(left, 3, 4))
    assert outside_target_changes(path, result.outputs[0].path, BarRange(3, 4)).missing == []
