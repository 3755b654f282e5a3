"""Which split a song belongs to, decided by a stable hash of its identity (paper section 3.1).

The paper splits *song identities* (not files, not windows) 11:1:6:1:1 into train-1 / valid-1 /
train-2 / valid-2 / test, so two versions of one song (LMD-matched holds several MIDI files per
Million Song Dataset entry) never end up on both sides of an evaluation. The split of an identity
is ``sha256(identity) mod 20`` mapped onto those proportions: it does not depend on the other
songs, on the order of the files, on the machine or on Python's randomised ``hash()``, so adding
files to a corpus never moves an existing song to another split.

A small folder is the exception (:func:`plan_splits`): when the hash leaves a split of a meter group
empty, songs are moved (and with 3 or 4 songs, lent) so that every split a model kind trains or
validates on holds a song.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Iterable

from clsm_cli.errors import UsageError

# train-1/valid-1 train the generators, train-2/valid-2 the evaluation LM, test feeds the evaluation.
SPLITS = ("train-1", "valid-1", "train-2", "valid-2", "test")
SPLIT_RATIO = (11, 1, 6, 1, 1)
TRAIN_SPLITS = ("train-1", "train-2")  # transposition augmentation applies to these only
HELD_OUT_SPLITS = ("valid-1", "valid-2", "test")  # original key; windows seen in training dropped

assert len(SPLITS) == len(SPLIT_RATIO)
assert set(TRAIN_SPLITS) | set(HELD_OUT_SPLITS) == set(SPLITS)

_SPLIT_BUCKETS = sum(SPLIT_RATIO)  # 20
_BUCKET_TO_SPLIT = tuple(name for name, share in zip(SPLITS, SPLIT_RATIO) for _ in range(share))

# How a file's song identity is found (``clsm data build --identity``).
IDENTITY_MODES = ("lmd", "stem", "parent", "path")
DEFAULT_IDENTITY_MODE = "lmd"

# LMD-matched stores each song's MIDI versions in a folder named after its Million Song Dataset
# track id, e.g. lmd_matched/A/B/C/TRABCAB128F4251E6B/1a2b....mid
_LMD_TRACK_ID = re.compile(r"^TR[A-Z0-9]{16}$")


def split_of(song_identity: str) -> str:
    """The split of a song, from the sha256 of its identity (stable across runs and machines)."""
    digest = hashlib.sha256(song_identity.encode("utf-8")).digest()
    bucket = int.from_bytes(digest[:8], "big") % _SPLIT_BUCKETS
    return _BUCKET_TO_SPLIT[bucket]


def song_identity(path: Path | str, root: Path | str, mode: str = DEFAULT_IDENTITY_MODE) -> str:
    """The identity that groups the files of one song, so they all land in the same split.

    ``path`` is a file found under the source folder ``root``. Modes:

    - ``lmd`` (default): the LMD ``TR…`` folder when the path has one, else the file stem;
    - ``stem``: the file name without extension (``song.mid`` and ``other/song.midi`` are one song);
    - ``parent``: the folder holding the file, relative to ``root`` (one folder = one song);
    - ``path``: the file's path relative to ``root`` (every file its own song).

    Only parts of the path below ``root`` are used, so the split does not depend on where the
    corpus lives on disk.
    """
    if mode not in IDENTITY_MODES:
        raise UsageError(f"song identity mode must be one of {', '.join(IDENTITY_MODES)}, got {mode!r}")
    relative = _relative_posix(Path(path), Path(root))
    if mode == "lmd":
        for folder in reversed(relative.parts[:-1]):
            if _LMD_TRACK_ID.match(folder):
                return folder
        return relative.stem
    if mode == "stem":
        return relative.stem
    if mode == "parent":
        parent = relative.parent
        return str(parent) if str(parent) != "." else Path(root).resolve().name
    return str(relative)


def _relative_posix(path: Path, root: Path) -> PurePosixPath:
    try:
        relative = path.resolve().relative_to(root.resolve())
    except ValueError:  # a file given directly rather than found under root
        relative = Path(path.name)
    return PurePosixPath(relative.as_posix())


# --- small folders -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SplitPlan:
    """The splits of one meter group's songs: each song's own split, and the splits it is lent to.

    For a group whose songs fill every split by their hash (any folder of more than a few dozen
    songs, nearly always), every song keeps ``split_of(identity)`` and nothing is lent.
    """

    own: dict[str, str]  # identity -> its split
    lent: dict[str, tuple[str, ...]]  # identity -> further splits that also receive its windows
    moved: tuple[tuple[str, str, str], ...]  # (identity, hash split, split it moved to)

    def splits_of(self, identity: str) -> tuple[str, ...]:
        return (self.own[identity],) + self.lent.get(identity, ())

    def notes(self) -> list[str]:
        """What was adjusted, in sentences for the build summary (empty when nothing was)."""
        lines = [f"moved {identity} from {source} to {target}" for identity, source, target in self.moved]
        borrowers: dict[str, list[str]] = {}
        for identity, splits in self.lent.items():
            for split in splits:
                borrowers.setdefault(split, []).append(self.own[identity])
        for split in SPLITS:
            if split in borrowers:
                lender = sorted(set(borrowers[split]), key=SPLITS.index)
                lines.append(f"{split} shares the songs of {' and '.join(lender)}")
        empty = [split for split in SPLITS if not any(split in self.splits_of(i) for i in self.own)]
        if empty:
            lines.append(f"{', '.join(empty)} {'holds' if len(empty) == 1 else 'hold'} no song")
        return lines


def plan_splits(identities: Iterable[str]) -> SplitPlan:
    """Splits for the kept songs of one meter group, so that a small folder can still be trained on.

    Every song starts in its hash split. While a split is empty, in the order train-1, valid-1,
    train-2, valid-2, test, it takes a song (the last by identity) from the split holding the most
    songs, among those that keep one or come later in that order. With 1 song it lands in train-1;
    with 2, train-1 and valid-1 hold one each; from 5 songs on every split holds its own. With 3 or
    4 songs the splits still empty borrow: an empty training split the songs of the other training
    split, an empty held-out split those of the first held-out split with songs. A song is never
    both in a training and in a held-out split, so no held-out window is dropped for being seen in
    training because of a loan.
    """
    songs = sorted(set(identities))
    members = {split: [] for split in SPLITS}
    for identity in songs:
        members[split_of(identity)].append(identity)
    own = {identity: split_of(identity) for identity in songs}
    if all(members.values()):
        return SplitPlan(own, {}, ())
    moved = []
    for position, split in enumerate(SPLITS):
        if members[split]:
            continue
        donors = [s for i, s in enumerate(SPLITS) if len(members[s]) >= 2 or (i > position and members[s])]
        if not donors:
            continue
        donor = max(donors, key=lambda s: (len(members[s]), SPLITS.index(s)))
        identity = members[donor].pop()
        members[split].append(identity)
        own[identity] = split
        moved.append((identity, donor, split))
    lent: dict[str, tuple[str, ...]] = {}
    if len(songs) >= 3:
        for split in SPLITS:
            if members[split]:
                continue
            side = TRAIN_SPLITS if split in TRAIN_SPLITS else HELD_OUT_SPLITS
            lender = next(s for s in side if members[s])
            for identity in members[lender]:
                lent[identity] = lent.get(identity, ()) + (split,)
    return SplitPlan(own, lent, tuple(moved))
