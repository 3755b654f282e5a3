"""Song identities and their stable split."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from clsm_cli.data.splits import SPLIT_RATIO, SPLITS, TRAIN_SPLITS, plan_splits, song_identity, split_of
from clsm_cli.errors import UsageError


def test_split_is_fixed_by_sha256_of_the_identity():
    # Pinned values: changing the hash would silently move songs between train and test.
    assert split_of("anthem") == "train-1"
    assert split_of("TRAAAGR128F425B14B") == "train-1"
    assert split_of("essenFolksong/altdeu10.abc#3") == "train-2"
    assert split_of("song") == "train-2"


def test_split_proportions_are_11_1_6_1_1():
    counts = Counter(split_of(f"song-{n}") for n in range(40_000))
    for split, share in zip(SPLITS, SPLIT_RATIO):
        assert counts[split] / 40_000 == pytest.approx(share / 20, abs=0.01), split


@pytest.mark.parametrize(
    "relative, mode, expected",
    [
        ("lmd_matched/A/A/A/TRAAAGR128F425B14B/0a1b2c.mid", "lmd", "TRAAAGR128F425B14B"),
        ("pop/My Song.mid", "lmd", "My Song"),  # no TR folder: the file stem
        ("pop/My Song.mid", "stem", "My Song"),
        ("pop/live/take2.MID", "parent", "pop/live"),
        ("pop/live/take2.MID", "path", "pop/live/take2.MID"),
        ("TRAAAGR128F425B14B/x.mid", "stem", "x"),
    ],
)
def test_song_identity_modes(tmp_path: Path, relative, mode, expected):
    path = tmp_path / relative
    assert song_identity(path, tmp_path, mode) == expected


def test_identity_uses_only_the_part_below_the_source_folder(tmp_path: Path):
    a = song_identity(tmp_path / "one" / "x" / "song.mid", tmp_path / "one", "path")
    b = song_identity(tmp_path / "two" / "x" / "song.mid", tmp_path / "two", "path")
    assert a == b == "x/song.mid"
    assert song_identity(tmp_path / "song.mid", tmp_path, "parent") == tmp_path.name


def test_unknown_identity_mode_is_a_usage_error(tmp_path: Path):
    with pytest.raises(UsageError, match="lmd, stem, parent, path"):
        song_identity(tmp_path / "a.mid", tmp_path, "album")


@pytest.mark.parametrize("count", range(1, 9))
@pytest.mark.parametrize("offset", [0, 100, 200, 300])
def test_small_folders_fill_the_splits_every_model_kind_needs(count, offset):
    songs = [f"tune-{offset + n}" for n in range(count)]
    plan = plan_splits(reversed(songs))
    holders = {split: [song for song in songs if split in plan.splits_of(song)] for split in SPLITS}
    filled = [split for split in SPLITS if holders[split]]
    # 1 song: train-1 (training without validation); 2: train-1 and valid-1; from 3: all five.
    assert filled == (list(SPLITS) if count >= 3 else ["train-1", "valid-1"][:count])
    if count >= 5:
        assert not plan.lent  # enough songs: each split holds its own
    for song in songs:
        splits = plan.splits_of(song)
        assert len({split in TRAIN_SPLITS for split in splits}) == 1  # never training and held out
    moved = {identity for identity, _, _ in plan.moved}
    for song in songs:
        assert plan.own[song] == split_of(song) or song in moved
    assert plan == plan_splits(songs)  # the order songs arrive in does not matter


def test_a_folder_whose_hash_fills_every_split_keeps_the_hash():
    songs = [f"song-{n}" for n in range(60)]
    assert {split_of(song) for song in songs} == set(SPLITS)
    plan = plan_splits(songs)
    assert plan.own == {song: split_of(song) for song in songs}
    assert not plan.lent and not plan.moved and plan.notes() == []


def test_split_plan_notes_say_what_moved_and_what_is_shared():
    plan = plan_splits(["s0", "s1", "s2"])
    assert plan.notes() == [
        "moved s2 from train-2 to train-1",
        "moved s0 from test to valid-1",
        "valid-2 shares the songs of valid-1",
        "test shares the songs of valid-1",
    ]
    assert plan_splits(["s0"]).notes() == ["moved s0 from test to train-1", "valid-1, train-2, valid-2, test hold no song"]
