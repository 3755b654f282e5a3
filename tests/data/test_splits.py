"""Song identities and their stable split."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from clsm_cli.data.splits import SPLIT_RATIO, SPLITS, song_identity, split_of
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
