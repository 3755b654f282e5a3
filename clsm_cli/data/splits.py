"""Which split a song belongs to, decided by a stable hash of its identity (paper section 3.1).

The paper splits *song identities* (not files, not windows) 11:1:6:1:1 into train-1 / valid-1 /
train-2 / valid-2 / test, so two versions of one song (LMD-matched holds several MIDI files per
Million Song Dataset entry) never end up on both sides of an evaluation. The split of an identity
is ``sha256(identity) mod 20`` mapped onto those proportions: it does not depend on the other
songs, on the order of the files, on the machine or on Python's randomised ``hash()``, so adding
files to a corpus never moves an existing song to another split.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path, PurePosixPath

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
