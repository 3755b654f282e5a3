"""Faults found by fuzzing and by real files (issue 27, items 1-5 and 7-10): each runs the command
a user would, with a tiny random CLSM, and asserts its exit code and the files it left behind."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import mido
import numpy as np
import pytest

from clsm_cli.editing.provenance import PROVENANCE_PREFIX, provenance_text, w_to_text
from clsm_cli.errors import OutputError
from clsm_cli.music import midi_write
from clsm_cli.music.midi_read import CLSM_SEQUENCER_PREFIX, read_midi
from clsm_cli.music.midi_write import provenance_event
from synthetic_midi.midi_factory import SongSpec, TrackSpec, scale_melody, write_song


def infill_outputs(clsm, song, seed=1, n=2, out="out"):
    result, (record,) = clsm("infill", song, "--bars", "3-4", "-n", str(n), "--seed", str(seed), "--json", out=out)
    assert result.exit_code == 0, result.output
    assert "(cpu)" in result.stderr  # "model NAME (cpu), seed S": the model was loaded
    return [output["path"] for output in record["outputs"]]


def provenance_events(path):
    """(chunk, index, message) of every clsm sequencer-specific event in the file."""
    found = []
    for chunk, track in enumerate(mido.MidiFile(path).tracks):
        for index, message in enumerate(track):
            if message.type == "sequencer_specific" and bytes(message.data).startswith(CLSM_SEQUENCER_PREFIX):
                found.append((chunk, index, message))
    return found


def stored_records(path) -> list[dict]:
    texts = [bytes(message.data)[len(CLSM_SEQUENCER_PREFIX):].decode("utf-8") for _, _, message in provenance_events(path)]
    return [json.loads(text[len(PROVENANCE_PREFIX):]) for text in texts]


def stored_record(path) -> dict:
    (record,) = stored_records(path)
    return record


def tamper(path, change) -> None:
    """Rewrite the output's record with ``change(record)`` applied, as a careless script might."""
    midi = mido.MidiFile(path)
    for chunk, index, message in provenance_events(path):
        record = stored_record(path)
        change(record)
        midi.tracks[chunk][index] = provenance_event(provenance_text(record)).copy(time=message.time)
    midi.save(path)


def mid_files(folder) -> set[str]:
    return {path.name for path in folder.glob("*.mid")} if folder.exists() else set()


DAMAGE = {
    "generation x": lambda record: record.update(generation="x"),
    "generation null": lambda record: record.update(generation=None),
    "latent not an object": lambda record: record["latents"].__setitem__(0, 3),
    "target note not a number": lambda record: record.update(target_notes=[["a", 1, 60, 0]]),
    "model a list": lambda record: record.update(model=["tiny"]),
    "bars reversed": lambda record: record.update(bars=[5, 3]),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_record_is_refused_as_an_endpoint_and_read_as_plain_midi_otherwise(clsm, song, tmp_path, damage):
    first, second = infill_outputs(clsm, song)
    tamper(first, DAMAGE[damage])
    for verb, args in (("interpolate", ("--start", first, "--end", second)), ("vary", (song, "--bars", "3-4", "--around", first))):
        result, _ = clsm(verb, *args, out="refused")
        assert result.exit_code == 3, result.output
        assert "damaged clsm record" in result.stderr and "Traceback" not in result.output
        assert "(cpu)" not in result.stderr  # refused before the model loaded (it says "model NAME (cpu)")
        assert mid_files(tmp_path / "refused") == set()
    for verb, extra in (("infill", ()), ("vary", ("--amount", "0.5"))):
        result, (record,) = clsm(verb, first, "--bars", "5-6", "-n", "2", "--seed", "3", "--json", *extra, out=verb)
        assert result.exit_code == 0, result.output
        assert any("read as a plain MIDI file" in warning for warning in record["warnings"])
        assert len(mid_files(tmp_path / verb)) == 2
        newest = [stored for stored in stored_records(record["outputs"][0]["path"]) if stored["bars"] == [5, 6]]
        assert [stored["generation"] for stored in newest] == [1]  # the damaged record is not trusted


@pytest.mark.parametrize("value", [np.nan, np.inf, 1e6])
def test_stored_latents_that_are_not_finite_or_implausible_exit_3_and_write_nothing(clsm, song, tmp_path, value):
    first, second = infill_outputs(clsm, song)

    def poisoned(record):
        size = len(np.frombuffer(__import__("base64").b64decode(record["latents"][0]["w"]), "<f4"))
        record["latents"][0]["w"] = w_to_text(np.full(size, value, np.float32))

    tamper(first, poisoned)
    for verb, args in (("interpolate", ("--start", first, "--end", second)), ("vary", (song, "--bars", "3-4", "--around", first))):
        result, _ = clsm(verb, *args, out="after")
        assert result.exit_code == 3, result.output
        assert "w of its latent 1" in result.stderr.replace("\n", " ")
        assert mid_files(tmp_path / "after") == set()


def test_unicode_digits_are_usage_errors(clsm, song, tmp_path):
    result, _ = clsm("infill", song, "--bars", "3-4", "--track", "²")
    assert result.exit_code == 2, result.output
    assert mid_files(tmp_path / "out") == set()
    infill_outputs(clsm, song)
    before = mid_files(tmp_path / "out")
    result, _ = clsm("interpolate", "--start", "²")
    assert result.exit_code == 2 and "ASCII digits" in result.stderr, result.output
    assert mid_files(tmp_path / "out") == before


def test_interpolate_refuses_a_song_replaced_since_the_run(clsm, song, tmp_path):
    infill_outputs(clsm, song)
    before = mid_files(tmp_path / "out")
    write_song(song, scale_melody(12, first_pitch=67))  # another song under the same name
    result, _ = clsm("interpolate")
    assert result.exit_code == 3 and "no longer the song" in result.stderr.replace("\n", " "), result.output
    assert mid_files(tmp_path / "out") == before


def test_provenance_sits_at_tick_0_with_paths_relative_to_the_output_folder(clsm, song, tmp_path):
    first, _ = infill_outputs(clsm, song)
    data = open(first, "rb").read()
    assert str(tmp_path).encode() not in data  # no absolute folder of the user's anywhere in the file
    ((chunk, index, message),) = provenance_events(first)
    track = mido.MidiFile(first).tracks[chunk]
    assert sum(m.time for m in track[: index + 1]) == 0
    assert not any(m.type == "text" and m.text.startswith(PROVENANCE_PREFIX) for m in track)
    record = stored_record(first)
    assert record["input"] == "../song.mid" and record["format"] == 2
    assert len(record["input_sha256"]) == 64
    assert record["command"].startswith("clsm infill ../song.mid ")


def test_outputs_written_with_a_text_event_still_read(clsm, song, tmp_path):
    """Format 1 outputs carried the record in a text event at the target's first bar."""
    paths = infill_outputs(clsm, song)
    for path in paths:
        record = stored_record(path)
        record.pop("format"), record.pop("input_sha256")
        record["input"] = str(song)  # format 1: the path as typed
        midi = mido.MidiFile(path)
        ((chunk, index, _),) = provenance_events(path)
        del midi.tracks[chunk][index]
        midi.tracks[chunk].insert(1, mido.MetaMessage("text", text=provenance_text(record)))
        midi.save(path)
    result, (record,) = clsm("interpolate", "--steps", "2", "--json")
    assert result.exit_code == 0, result.output
    assert record["warnings"] == []  # the stored w was found and reused
    assert len(record["outputs"]) == 3


def test_interpolate_after_a_batch_asks_which_song(clsm, tmp_path):
    songs = [write_song(tmp_path / f"{name}.mid", scale_melody(10, first_pitch=pitch))
             for name, pitch in (("a", 60), ("b", 62))]
    result, _ = clsm("infill", *songs, "--bars", "3-4", "-n", "2", "--seed", "1")
    assert result.exit_code == 0, result.output
    before = mid_files(tmp_path / "out")
    result, _ = clsm("interpolate")
    assert result.exit_code == 2 and "--song" in result.stderr and "a.mid" in result.stderr, result.output
    assert mid_files(tmp_path / "out") == before
    result, (record,) = clsm("interpolate", "--song", "a", "--steps", "2", "--json")
    assert result.exit_code == 0, result.output
    written = mid_files(tmp_path / "out") - before
    assert len(written) == 3 and all(name.startswith("a.interpolate-bars3-4-") for name in written)
    result, _ = clsm("interpolate", "--song", "c")
    assert result.exit_code == 2 and "a.mid" in result.stderr
    result, _ = clsm("interpolate", songs[0], "--bars", "3-4", "--song", "a")
    assert result.exit_code == 2 and "give one or the other" in result.stderr


def test_interpolate_never_continues_from_a_run_of_rests(clsm, song, tmp_path):
    for path in infill_outputs(clsm, song):
        tamper(path, lambda record: record.update(target_notes=[]))
    before = mid_files(tmp_path / "out")
    result, _ = clsm("interpolate")
    assert result.exit_code == 3 and "only rests" in result.stderr, result.output
    assert mid_files(tmp_path / "out") == before


def clsm_process(*args):
    """``clsm ARGS`` in a process of its own (another run at the same time)."""
    return subprocess.run([sys.executable, "-c", "from clsm_cli.cli.app import main; main()", *args],
                          capture_output=True, text=True, timeout=300)


def test_a_forced_rerun_failing_at_output_3_keeps_the_earlier_outputs(clsm, song, tmp_path, monkeypatch):
    paths = infill_outputs(clsm, song, n=4)
    before = {path: open(path, "rb").read() for path in paths}
    real_write = midi_write.write_output_bytes
    calls = []

    def disk_full_on_the_third(*args, **kwargs):
        calls.append(args)
        if len(calls) == 3:
            raise OutputError("cannot write to the folder out (No space left on device)")
        return real_write(*args, **kwargs)

    monkeypatch.setattr(midi_write, "write_output_bytes", disk_full_on_the_third)
    result, _ = clsm("infill", song, "--bars", "3-4", "-n", "4", "--seed", "1", "--temperature", "0", "--force")
    assert result.exit_code == 5 and "No space left" in result.stderr, result.output
    assert len(calls) == 3
    assert sorted((tmp_path / "out").iterdir()) == sorted(map(Path, paths))  # no temporaries either
    assert {path: open(path, "rb").read() for path in paths} == before


def test_a_plain_run_and_a_forced_run_at_once_leave_the_forced_run_whole(clsm, song, tmp_path, tiny_model_dir,
                                                                         monkeypatch):
    """The plain run is half-way through writing when a --force run of the same names runs to the end."""
    out = tmp_path / "out"
    real_write = midi_write.write_output_bytes
    forced = []

    def another_run_meanwhile(*args, **kwargs):
        if len(forced) == 0 and len(list(out.glob(".*.tmp"))) >= 2:
            forced.append(clsm_process("infill", str(song), "--bars", "3-4", "-n", "8", "--seed", "1", "--temperature",
                                       "0", "--force", "--model", str(tiny_model_dir), "--out", str(out),
                                       "--no-preview"))
        return real_write(*args, **kwargs)

    monkeypatch.setattr(midi_write, "write_output_bytes", another_run_meanwhile)
    plain, _ = clsm("infill", song, "--bars", "3-4", "-n", "8", "--seed", "1")
    (forced_run,) = forced
    assert forced_run.returncode == 0, forced_run.stderr
    assert plain.exit_code == 5 and "appeared while this run was writing" in plain.stderr.replace("\n", " ")
    names = mid_files(out)
    assert names == {f"song.infill-bars3-4-s1-{k}.mid" for k in range(1, 9)}
    assert all(stored_record(out / name)["temperature"] == 0 for name in names)  # every file is the forced run's
    assert not list(out.glob(".*"))


def test_an_accompaniment_only_song_needs_track_and_doublings_are_named(clsm, run_clsm, tmp_path):
    line = [(start, start + 240, 60 + (index % 8), 90) for index, start in enumerate(range(0, 16 * 1920, 480))]
    chords = tmp_path / "chords.mid"
    chords.write_bytes(SongSpec([TrackSpec(line, channel=0, program=0, name="Chord"),
                                 TrackSpec(line, channel=1, program=89, name="Pad")]).to_bytes())
    shown = run_clsm("show", str(chords))
    assert shown.exit_code == 0 and "no track looks like a melody" in shown.stdout.replace("\n", " ")
    result, _ = clsm("infill", chords, "--bars", "3-4")
    assert result.exit_code == 3 and "--track" in result.stderr, result.output
    assert mid_files(tmp_path / "out") == set()
    result, _ = clsm("infill", chords, "--bars", "3-4", "--track", "1", "-n", "1")
    assert result.exit_code == 0 and len(mid_files(tmp_path / "out")) == 1
    doubled = tmp_path / "doubled.mid"
    octave_up = [(start + 2 * 1920, end + 2 * 1920, pitch + 12, velocity) for start, end, pitch, velocity in line]
    doubled.write_bytes(SongSpec([TrackSpec(line, channel=0, program=0, name="Melody"),
                                  TrackSpec(octave_up, channel=1, program=73, name="Flute")]).to_bytes())
    result, (record,) = clsm("infill", doubled, "--bars", "3-4", "-n", "1", "--json", out="doubled")
    assert result.exit_code == 0, result.output
    assert any("track 2 (Flute) doubles it 1 octave above, 2 bars later" in warning for warning in record["warnings"])
    assert len(mid_files(tmp_path / "doubled")) == 1


def strummed_guitar_song(path, bars=20, ticks_per_beat=480):
    """A melody, and a guitar that strikes a chord on every beat and never releases it, but for a
    mute (note-offs of every string) at the end of every 4th bar."""
    bar = 4 * ticks_per_beat
    melody, guitar = mido.MidiTrack(), mido.MidiTrack()
    melody.append(mido.MetaMessage("track_name", name="Melody"))
    guitar.append(mido.MetaMessage("track_name", name="Guitar"))
    guitar.append(mido.Message("program_change", channel=1, program=25))
    events = []  # (tick, order, message)
    for index in range(bars * 4):
        tick = index * ticks_per_beat
        events.append((tick, 1, mido.Message("note_on", channel=0, note=67 + (index % 5), velocity=90)))
        events.append((tick + ticks_per_beat - 10, 0, mido.Message("note_off", channel=0, note=67 + (index % 5))))
    now = 0
    for tick, _, message in sorted(events, key=lambda event: event[:2]):
        melody.append(message.copy(time=tick - now))
        now = tick
    now = 0
    for beat in range(bars * 4):
        tick = beat * ticks_per_beat
        for pitch in (52, 55, 59, 64):
            guitar.append(mido.Message("note_on", channel=1, note=pitch, velocity=70, time=tick - now))
            now = tick
        if beat % 16 == 15:  # the mute at the end of every 4th bar
            tick = (beat + 1) * ticks_per_beat - 1
            for pitch in (52, 55, 59, 64):
                guitar.append(mido.Message("note_off", channel=1, note=pitch, time=tick - now))
                now = tick
    mido.MidiFile(type=1, ticks_per_beat=ticks_per_beat, tracks=[melody, guitar]).save(path)
    return path, bar


def note_offs(path):
    """(chunk, tick, channel, pitch) of every note-off event (velocity-0 note-ons included)."""
    found = []
    for chunk, track in enumerate(mido.MidiFile(path).tracks):
        tick = 0
        for message in track:
            tick += message.time
            if message.type == "note_off" or (message.type == "note_on" and message.velocity == 0):
                found.append((chunk, tick, message.channel, message.note))
    return found


def test_an_edit_of_a_part_that_never_releases_keeps_every_note_off_outside_the_target(clsm, tmp_path):
    song, bar = strummed_guitar_song(tmp_path / "strum.mid")
    before = read_midi(song)
    assert any("never released" in warning and "struck again" in warning for warning in before.warnings)
    (guitar,) = [track for track in before.tracks if track.name == "Guitar"]
    assert {(note.start_tick, note.end_tick) for note in guitar.notes if note.pitch == 52} == {
        (beat * 480, beat * 480 + 480 - (beat % 16 == 15)) for beat in range(80)}  # ends at the next strike or the mute
    result, (record,) = clsm("infill", song, "--bars", "3-4", "--track", "Guitar", "-n", "2", "--json")
    assert result.exit_code == 0, result.output
    start, end = 2 * bar, 4 * bar
    for output in record["outputs"]:
        outside = [off for off in note_offs(output["path"]) if not start <= off[1] <= end]
        assert outside == [off for off in note_offs(song) if not start <= off[1] <= end]
        after = read_midi(output["path"])
        (edited,) = [track for track in after.tracks if track.name == "Guitar"]

        def untouched(track):
            return sorted((n.start_tick, n.end_tick, n.pitch) for n in track.notes if n.end_tick <= start or n.start_tick >= end)

        assert untouched(edited) == untouched(guitar)
    assert len(mid_files(tmp_path / "out")) == 2


def test_also_track_edits_a_doubling_part_the_same_way(clsm, tmp_path):
    line = [(start, start + 240, 60 + (index % 8), 90) for index, start in enumerate(range(0, 16 * 1920, 480))]
    octave_up = [(start + 2 * 1920, end + 2 * 1920, pitch + 12, velocity) for start, end, pitch, velocity in line]
    bass = [(start, start + 480, 40, 90) for start in range(0, 16 * 1920, 1920)]
    doubled = tmp_path / "doubled.mid"
    doubled.write_bytes(SongSpec([TrackSpec(line, channel=0, program=0, name="Melody"),
                                  TrackSpec(octave_up, channel=1, program=73, name="Flute"),
                                  TrackSpec(bass, channel=2, program=33, name="Bass")]).to_bytes())
    result, (record,) = clsm("infill", doubled, "--bars", "3-4", "-n", "2", "--also-track", "Flute", "--json")
    assert result.exit_code == 0, result.output
    assert any("edited the same way in bars 5-6" in warning for warning in record["warnings"])
    before = read_midi(doubled)
    bar = 1920
    for output in record["outputs"]:
        song = read_midi(output["path"])
        melody, flute = (track for track in song.tracks if track.name in ("Melody", "Flute"))

        def notes(track, first, last):
            return sorted((n.start_tick - first, n.end_tick - first, n.pitch) for n in track.notes
                          if first <= n.start_tick < last)

        assert notes(melody, 2 * bar, 4 * bar) != notes(before.tracks[0], 2 * bar, 4 * bar)  # it was edited
        assert [(s, e, p + 12) for s, e, p in notes(melody, 2 * bar, 4 * bar)] == notes(flute, 4 * bar, 6 * bar)
        assert notes(flute, 0, 4 * bar) == notes(before.tracks[1], 0, 4 * bar)
        assert notes(flute, 6 * bar, 20 * bar) == notes(before.tracks[1], 6 * bar, 20 * bar)
        assert "--also-track Flute" in stored_record(output["path"])["command"]
    assert len(mid_files(tmp_path / "out")) == 2
    result, _ = clsm("infill", doubled, "--bars", "3-4", "--also-track", "Bass", out="not-doubling")
    assert result.exit_code == 2 and "does not double" in result.stderr, result.output
    assert mid_files(tmp_path / "not-doubling") == set()
