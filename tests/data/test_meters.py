"""``clsm data build`` over tunes in several meters: one folder per meter group, windows of each
meter's length, none across a meter change, splits per group, --meters, and old datasets as 4/4."""

from __future__ import annotations

import json

import numpy as np
import pytest

from clsm_cli.data.corpus import build_dataset
from clsm_cli.data.shards import (
    FORMAT_NAME,
    MANIFEST_NAME,
    SINGLE_METER_FORMAT_VERSION,
    SOURCES_NAME,
    DatasetWriter,
    meter_groups,
    open_split,
    read_manifest,
    write_json,
)
from clsm_cli.data.song_notes import SongSkipped, read_midi_notes
from clsm_cli.data.song_windows import song_result
from clsm_cli.data.splits import SPLITS, TRAIN_SPLITS, plan_splits
from clsm_cli.errors import InputFileError, UsageError
from clsm_cli.timebase import Meter
from clsm_cli.music.tokens import StepNote, cut_window, encode_notes
from tests.data.meter_corpus import meter_tune, write_tune
from synthetic_midi.midi_factory import make_midi, melody_track

# (file, [(meter, bars), ...], seed): 9 tunes; the last one changes from 3/4 to 2/4 after bar 10.
TUNES = [
    ("waltzes/a.mid", [((3, 4), 12)], 1),
    ("waltzes/b.mid", [((3, 4), 9)], 2),
    ("waltzes/c.mid", [((3, 4), 10)], 3),
    ("jigs/a.mid", [((6, 8), 11)], 4),
    ("jigs/b.mid", [((6, 8), 8)], 5),
    ("polkas/a.mid", [((2, 4), 16)], 6),
    ("polkas/b.mid", [((2, 4), 10)], 7),
    ("polkas/c.mid", [((2, 4), 9)], 8),
    ("pop/a.mid", [((4, 4), 9)], 9),
    ("mixed/change.mid", [((3, 4), 10), ((2, 4), 9)], 10),
]
WINDOW_STEPS = {"2/4": 64, "3/4": 96, "4/4": 128, "6/8": 96}


def windows_in(bars: int) -> int:
    return max(bars - 7, 0)


def windows_per_song() -> dict[str, dict[str, int]]:
    """Meter group -> {identity (the file's path): windows in the original key}."""
    songs: dict[str, dict[str, int]] = {}
    for path, sections, _ in TUNES:
        for meter, bars in sections:
            group = songs.setdefault(str(Meter(*meter).group), {})
            if windows_in(bars):
                group[path] = group.get(path, 0) + windows_in(bars)
    return songs


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("tunes")
    notes = {path: write_tune(root / path, sections, seed) for path, sections, seed in TUNES}
    out = tmp_path_factory.mktemp("data") / "meters"
    manifest = build_dataset(out, [root], identity_mode="path", workers=1, windows_per_shard=16)
    return root, notes, out, manifest


def test_one_folder_per_meter_group_with_windows_of_its_length(built):
    _, _, out, manifest = built
    groups = manifest["meter_groups"]
    assert list(groups) == ["2/4", "3/4", "4/4", "6/8"]
    assert manifest["files"] == {"total": 10, "kept": 10, "skipped": 0, "skipped_by_reason": {}}
    for group, record in groups.items():
        assert record["window_steps"] == WINDOW_STEPS[group] == 8 * Meter.parse(group).steps_per_bar
        assert (out / record["folder"] / SOURCES_NAME).is_file()
        assert record["folder"] == group.replace("/", "-")
        for split in SPLITS:
            windows = open_split(out, split, group)
            assert windows.meter_group == group and windows.window_steps == WINDOW_STEPS[group]
            assert windows[np.arange(len(windows))].shape == (record["splits"][split]["windows"], WINDOW_STEPS[group])


def test_counts_per_meter_group(built):
    _, _, _, manifest = built
    groups = manifest["meter_groups"]
    songs = windows_per_song()
    assert {group: sum(counts.values()) for group, counts in songs.items()} == {
        "3/4": 5 + 2 + 3 + 3, "6/8": 4 + 1, "2/4": 9 + 3 + 2 + 2, "4/4": 2
    }
    for group, record in groups.items():
        plan = plan_splits(songs[group])
        for split in SPLITS:
            in_split = [song for song in songs[group] if split in plan.splits_of(song)]
            split_record = record["splits"][split]
            assert split_record["songs"] == split_record["files"] == split_record["tracks"] == len(in_split)
            assert split_record["windows_original_key"] == sum(songs[group][song] for song in in_split)
        assert record["songs"] == record["files"] == len(songs[group])
    assert groups["3/4"]["songs_by_meter"] == {"3/4": 4} and groups["2/4"]["songs_by_meter"] == {"2/4": 4}
    # The change tune: 19 bars give 12 spans of 8 bars; 3 lie in its 3/4 bars, 2 in its 2/4 bars.
    assert manifest["windows_dropped_at_meter_change"] == 12 - 3 - 2


def test_every_window_is_its_tune_cut_inside_one_meter(built):
    _, notes, out, manifest = built
    for group, record in manifest["meter_groups"].items():
        steps_per_bar = record["steps_per_bar"]
        for split in SPLITS:
            windows = open_split(out, split, group)
            for index in range(len(windows)):
                origin = windows.origin(index)
                tune = dict((path, sections) for path, sections, _ in TUNES)[origin["source"]]
                first_step, first_bar = 0, 1
                for meter, bars in tune:  # find the section holding the window
                    if str(Meter(*meter).group) == group and first_bar <= origin["first_bar"] <= first_bar + bars - 8:
                        break
                    first_step += bars * Meter(*meter).steps_per_bar
                    first_bar += bars
                else:
                    pytest.fail(f"window {index} of {group} {split} crosses a meter change: {origin}")
                start = first_step + (origin["first_bar"] - first_bar) * steps_per_bar
                shift = origin["semitones"]
                line = encode_notes([StepNote(s, e, p + shift) for s, e, p in notes[origin["source"]]], 19 * 16)
                assert np.array_equal(windows[index], cut_window(line, start, 8 * steps_per_bar)), origin


def test_small_groups_give_every_split_that_a_model_kind_needs_a_song(built):
    """clsm, vae, arnn and arnn-t train on train-1 and validate on valid-1, lm on train-2 and valid-2,
    evaluate reads test: from 3 songs a group fills all five; 2 songs fill train-1 and valid-1; 1
    song goes to train-1. No song is both in a training and in a held-out split."""
    _, _, out, manifest = built
    sizes = {}
    for group, record in manifest["meter_groups"].items():
        songs = record["songs"]
        sizes[group] = songs
        filled = [split for split in SPLITS if record["splits"][split]["songs"]]
        with_windows = [split for split in SPLITS if record["splits"][split]["windows"]]
        expected = list(SPLITS) if songs >= 3 else ["train-1", "valid-1"][:songs]
        assert filled == with_windows == expected, group
        sources = json.loads((out / record["folder"] / SOURCES_NAME).read_text())
        for entry in sources:
            splits = [entry["split"]] + entry.get("lent_to", [])
            assert len({split in TRAIN_SPLITS for split in splits}) == 1, entry
        plan = plan_splits(entry["song"] for entry in sources)
        assert [entry["split"] for entry in sources] == [plan.own[entry["song"]] for entry in sources]
        assert record["split_adjustments"] == plan.notes()
    assert sizes == {"2/4": 4, "3/4": 4, "4/4": 1, "6/8": 2}


def test_meters_option_keeps_only_those_groups(built, tmp_path):
    root, _, _, _ = built
    manifest = build_dataset(tmp_path / "d", [root], meters="3/4,6/8", identity_mode="path", workers=1)
    assert list(manifest["meter_groups"]) == ["3/4", "6/8"] and manifest["parameters"]["meters"] == ["3/4", "6/8"]
    assert manifest["files"]["kept"] == 6  # 3 waltzes, 2 jigs, the tune that starts in 3/4
    skipped = manifest["files"]["skipped_by_reason"]
    assert skipped["meter"]["count"] == 4
    details = [example["detail"] for example in skipped["meter"]["examples"]]
    assert "in 2/4, not among the meters asked for (3/4 and 6/8)" in details
    assert manifest["meter_groups"]["3/4"]["songs"] == 4
    with pytest.raises(InputFileError, match=r"holds no 2/4 windows \(it holds 3/4 and 6/8\)"):
        open_split(tmp_path / "d", "train-1", "2/4")
    with pytest.raises(UsageError, match="a meter is written like 3/4"):
        build_dataset(tmp_path / "e", [root], meters="three/4")


def test_two_two_opens_the_four_four_group(built):
    _, _, out, _ = built
    assert np.array_equal(open_split(out, "train-1", "2/2")[0], open_split(out, "train-1")[0])
    assert open_split(out, "train-1", Meter(4, 4)).meter_group == "4/4"


def write_single_meter_dataset(directory, windows: np.ndarray) -> None:
    """A dataset as clsm wrote it before meter groups (format version 1): splits at the top."""
    writer = DatasetWriter(directory, windows_per_shard=4)
    origins = np.zeros((len(windows), 4), dtype=np.int32)
    writer.add_training("train-1", windows, origins, original_key=windows)
    writer.add_held_out("valid-1", windows[:1] + 1, origins[:1])
    splits = writer.finish()
    write_json(directory / SOURCES_NAME, [{"source": "old.mid", "song": "old", "split": "train-1"}])
    manifest = {"format": FORMAT_NAME, "format_version": SINGLE_METER_FORMAT_VERSION, "splits": splits}
    write_json(directory / MANIFEST_NAME, manifest)


def test_a_dataset_built_before_meter_groups_reads_as_the_four_four_group(tmp_path):
    windows = np.random.default_rng(0).integers(0, 32, size=(6, 128), dtype=np.uint8)
    write_single_meter_dataset(tmp_path, windows)
    assert list(meter_groups(read_manifest(tmp_path))) == ["4/4"]
    train = open_split(tmp_path, "train-1")
    assert train.meter_group == "4/4" and np.array_equal(train[np.arange(6)], windows)
    assert train.song(5) == "old" and len(open_split(tmp_path, "valid-1", "2/2")) == 1
    with pytest.raises(InputFileError, match="holds no 3/4 windows"):
        open_split(tmp_path, "train-1", "3/4")


def test_four_four_and_two_two_bars_are_one_section(tmp_path):
    write_tune(tmp_path / "cut.mid", [((4, 4), 5), ((2, 2), 5)], seed=11)
    song = read_midi_notes(tmp_path / "cut.mid")
    assert [(s.group, s.meters, s.first_bar, s.num_bars) for s in song.meter_sections] == [
        (Meter(4, 4), (Meter(2, 2), Meter(4, 4)), 0, 10)
    ]
    result = song_result(song)
    assert result.meters == {"4/4": ["2/2", "4/4"]} and result.windows_dropped_at_meter_change == 0
    assert [len(track.cut) for track in result.tracks] == [3]


def test_a_time_signature_off_the_bar_line_makes_the_bars_irregular(tmp_path):
    notes = meter_tune((3, 4), 10, seed=12)
    path = tmp_path / "off.mid"
    make_midi(path, [melody_track(notes)], time_signatures=[(0, 3, 4), (4 * 12 * 120 + 240, 2, 4)])
    with pytest.raises(SongSkipped) as raised:
        read_midi_notes(path)
    assert raised.value.reason == "irregular bars" and "bar 5 is cut short" in raised.value.detail
