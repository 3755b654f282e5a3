"""A tiny POP909-shaped folder builds the right bars (issue 24 item 1), and CRÉ's quirks are handled."""

from __future__ import annotations

import json
from pathlib import Path

import mido
import numpy as np
import pytest

from clsm_cli.data import cre, pop909
from clsm_cli.data.corpus import build_dataset
from clsm_cli.data.shards import open_split
from clsm_cli.music.tokens import encode_notes, StepNote
from clsm_cli.music.phase import bar_phase, detect_phase, grid_offset

TPB = 480
OFFSET = 41  # every onset of the song sits this many ticks after the 16th grid
SECONDS_PER_BEAT = 0.5  # 120 bpm: a tick lasts 1/960 s
PICKUP_BEATS = 1
# bars of the song after its one-beat pickup: 8 of 4 beats, one of 2 (irregular), 9 of 4
BAR_BEATS = [4] * 8 + [2] + [4] * 9


def _pitch(bar: int, beat: int, variant: int = 0) -> int:
    return 60 + (bar % 5) + (2 + variant) * beat


def _beats() -> list[tuple[int, int]]:
    """(beat index, 1 if it starts a 4/4-annotated bar) for the pickup and every bar."""
    rows = [(0, 0)] * PICKUP_BEATS
    for beats in BAR_BEATS:
        rows += [(1, 1)] + [(0, 0)] * (beats - 1)
    return rows


def write_song(folder: Path, number: str, durations_seed: int = 0, variant: int = 0) -> None:
    """NNN.mid (a PIANO track, and MELODY: one note a beat, onsets OFFSET ticks late, human-played
    lengths), beat_midi.txt with an irregular bar, chord_midi.txt, key_audio.txt, a versions/ file."""
    song = folder / number
    (song / "versions").mkdir(parents=True)
    rng = np.random.default_rng(durations_seed)
    midi = mido.MidiFile(ticks_per_beat=TPB)
    conductor = mido.MidiTrack([mido.MetaMessage("time_signature", numerator=1, denominator=4, time=0),
                                mido.MetaMessage("set_tempo", tempo=500_000, time=0)])
    melody = mido.MidiTrack([mido.MetaMessage("track_name", name="MELODY", time=0)])
    piano = mido.MidiTrack([mido.MetaMessage("track_name", name="PIANO", time=0)])
    events, now = [], 0
    beat, bar_index = PICKUP_BEATS, 0
    for beats in BAR_BEATS:
        for j in range(beats):
            start = beat * TPB + OFFSET
            length = int(rng.integers(425, 470))  # 3.5..3.9 steps: a quarter once on the grid
            events.append((start, "note_on", _pitch(bar_index, j, variant)))
            events.append((start + length, "note_off", _pitch(bar_index, j, variant)))
            beat += 1
        bar_index += 1
    for tick, kind, pitch in sorted(events, key=lambda e: (e[0], e[1] == "note_on")):
        melody.append(mido.Message(kind, note=pitch, velocity=80 if kind == "note_on" else 0, time=tick - now))
        now = tick
    piano += [mido.Message("note_on", note=48, velocity=70, time=OFFSET), mido.Message("note_off", note=48, time=TPB)]
    midi.tracks += [conductor, melody, piano]
    midi.save(song / f"{number}.mid")
    midi.save(song / "versions" / f"{number}-v1.mid")  # never read

    seconds = [(k * TPB + OFFSET) / (2 * TPB) for k in range(len(_beats()))]
    (song / "beat_midi.txt").write_text("".join(f"{t} {d}.0 {d}.0\n" for t, (_, d) in zip(seconds, _beats())))
    end = seconds[-1] + SECONDS_PER_BEAT
    (song / "chord_midi.txt").write_text(f"{seconds[0]}\t{seconds[1]}\tN\n{seconds[1]}\t{seconds[5]}\tC:maj\n"
                                         f"{seconds[5]}\t{end}\tG:maj\n")
    (song / "key_audio.txt").write_text(f"0.0\t{end}\tC:maj\n")


def expected_line(variant: int = 0) -> list[StepNote]:
    """The melody as the reader should see it: a quarter a beat from step 4 (after the pickup beat)."""
    notes, step, bar_index = [], 4 * PICKUP_BEATS, 0
    for beats in BAR_BEATS:
        for j in range(beats):
            notes.append(StepNote(step, step + 4, _pitch(bar_index, j, variant)))
            step += 4
        bar_index += 1
    return notes


def test_read_song_places_notes_within_their_beats_and_keeps_irregular_bars_out(tmp_path):
    write_song(tmp_path / "POP909", "001")
    song = pop909.read_song(tmp_path / "POP909" / "001" / "001.mid")
    assert list(song.tracks[0].notes) == expected_line()
    # the pickup (1 beat) and the 2-beat bar are kept out: two runs of 4/4 bars
    assert [(s.first_bar, s.num_bars, s.first_step) for s in song.sections] == [(1, 8, 4), (10, 9, 4 + 8 * 16 + 8)]
    assert song.annotations["offset_ticks"] == OFFSET
    assert song.annotations["irregular_bars"] == 2
    assert song.annotations["chords"] == [[4, 20, "C:maj"], [20, 4 + 4 * sum(BAR_BEATS), "G:maj"]]
    assert song.annotations["keys"][0][2] == "C:maj"


def test_pop909_build_reads_only_song_files_and_forces_test_songs(tmp_path):
    root = tmp_path / "POP909-Dataset" / "POP909"
    write_song(root, "001", durations_seed=1)
    write_song(root, "002", durations_seed=2, variant=1)
    (tmp_path / "POP909-Dataset" / "README.md").write_text("not a song")
    manifest = build_dataset(tmp_path / "out", corpora=[("pop909", tmp_path / "POP909-Dataset")],
                             test_songs={"002", "999"}, workers=1, windows_per_shard=8)
    assert manifest["files"]["total"] == 2  # the versions/ copies are not read
    assert manifest["files"]["kept"] == 2 and manifest["duplicates_dropped"] == {}
    assert manifest["test_songs"] == {"named": 2, "found": 1, "not_found": ["999"]}
    sources = json.loads((tmp_path / "out" / "4-4" / "sources.json").read_text())
    assert [s["song"] for s in sources] == ["002", "001"]  # a test song comes first, and stays in test
    assert sources[0]["split"] == "test" and sources[1]["split"] != "test"
    assert sources[0]["annotations"]["chords"][0] == [4, 20, "C:maj"]
    windows = open_split(tmp_path / "out", "test", "4/4")
    assert len(windows) == 1 + 2  # 8 bars give one window, 9 bars two; none crosses the 2-beat bar
    line = [note for note in expected_line(variant=1) if 4 <= note.start_step < 4 + 8 * 16]
    assert np.array_equal(windows[0], encode_notes(line, 128, start_step=4))


def test_pop909_folder_errors_are_sentences(tmp_path):
    from clsm_cli.errors import UsageError

    with pytest.raises(UsageError, match="POP909"):
        pop909.song_folders(tmp_path)


def test_pop909_song_without_melody_is_counted(tmp_path):
    write_song(tmp_path / "POP909", "003")
    midi = mido.MidiFile(tmp_path / "POP909" / "003" / "003.mid")
    midi.tracks[1][0] = mido.MetaMessage("track_name", name="VOCAL", time=0)
    midi.save(tmp_path / "POP909" / "003" / "003.mid")
    manifest = build_dataset(tmp_path / "out", corpora=[("pop909", tmp_path)], workers=1)
    assert manifest["files"]["skipped_by_reason"]["no usable track"]["count"] == 1


DEV = Path(__file__).resolve().parents[1] / "fixtures" / "dev_midi"


def test_cre_tune_loses_its_one_tick_offset_and_pads_its_pickup():
    song = cre.read_tune(DEV / "cre_AshplantreelThe.mid")
    notes = song.tracks[0].notes
    # a two-8th pickup padded to a full bar: it ends on the first bar line (step 16)
    assert [(n.start_step, n.end_step) for n in notes[:3]] == [(12, 14), (14, 16), (16, 20)]
    # a polka without a pickup stays where it is
    assert cre.read_tune(DEV / "cre_AsIWentOutUpontheIcepolka.mid").tracks[0].notes[0].start_step == 0


def test_grid_offset_and_bar_phase_find_shifted_grids():
    onsets = np.arange(0, 32) * 120 + 41
    assert grid_offset(onsets, 120) == (41, 1.0)
    scattered = np.array([0, 7, 13, 50, 77])
    assert grid_offset(scattered, 120)[0] == 0  # no offset shared by 80%
    # long notes on a bar line every 16 steps, starting 8 steps (an 8th... half a bar) in
    starts = np.array([8, 12, 14, 15, 24, 28, 30, 31]) * 120
    ends = starts + np.array([480, 240, 120, 120, 480, 240, 120, 120])
    assert bar_phase(starts, ends - starts, 120, 16, 4) == 8
    phase = detect_phase(starts + 41, ends + 41, 480, 16)
    assert (phase.offset_ticks, phase.bar_steps, phase.ticks) == (41, 8, 41 + 8 * 120)


def test_chord_labels_and_the_strong_beat_chord_tone_count():
    from clsm_cli.data.chords import chord_at, chord_pitch_classes, strong_beat_chord_tones

    assert chord_pitch_classes("C:maj") == {0, 4, 7}
    assert chord_pitch_classes("A:min7") == {9, 0, 4, 7}
    assert chord_pitch_classes("F#:sus4/5") == {6, 11, 1}
    assert chord_pitch_classes("Bb:maj(9)") == {10, 2, 5}  # unknown quality: its triad
    assert chord_pitch_classes("N") is None
    chords = [[0, 16, "C:maj"], [16, 32, "G:maj"]]
    assert chord_at(chords, 15) == {0, 4, 7} and chord_at(chords, 32) is None
    # bar 1: E on beat 1 (tone), F on beat 3 (not); bar 2: D on beat 1 (tone of G), a note off the beat
    tokens = np.full(32, 31, dtype=np.uint8)
    tokens[[0, 8, 16, 20]] = [64 - 55, 65 - 55, 62 - 55, 60 - 55]
    assert strong_beat_chord_tones(tokens, 0, chords) == (2, 3)
