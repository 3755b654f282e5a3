"""The windows a run trains and validates on: the data folder's manifest and the kind's two splits.

A data folder holds one group of windows per meter group (``4/4`` covers 4/4 and 2/2); a folder
built before meters were kept apart reads as 4/4. :func:`open_meter_split` is the one call into the
data package, so the layout is known in one place.

A small folder of one's own tunes may leave the validation split empty (one kept song goes to
training): the run then trains without validation and says so once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from clsm_cli.errors import InputFileError, UsageError
from clsm_cli.models.registry import ModelKind
from clsm_cli.train.records import manifest_hash

DEFAULT_METER_GROUP = "4/4"


@dataclass(frozen=True)
class TrainingData:
    manifest: dict
    manifest_hash: str
    train_split: str
    validation_split: str
    train_set: Any  # indexable (n, K) uint8 windows
    validation_set: Optional[Any]  # None: the split is empty, the run trains without validation

    @property
    def validates(self) -> bool:
        return self.validation_set is not None


def open_meter_split(data_dir: Path, split: str, meter_group: str):
    """The windows of ``split`` for ``meter_group`` (``data.shards.open_split``; older datasets are 4/4)."""
    from clsm_cli.data.shards import open_split

    return open_split(data_dir, split, meter_group=meter_group)


def open_training_data(data_dir: Path, kind: ModelKind, meter_group: str, window_steps: int) -> TrainingData:
    """The manifest and the kind's splits of ``meter_group``; InputFileError (exit 3) when unusable."""
    from clsm_cli.data.shards import read_manifest

    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise InputFileError(
            f"the data folder {data_dir} does not exist; build one with `clsm data build SRC --out {data_dir}`"
        )
    manifest = read_manifest(data_dir)  # InputFileError (exit 3) when it is not a dataset
    train_set = open_meter_split(data_dir, kind.training_split, meter_group)
    validation_set = open_meter_split(data_dir, kind.validation_split, meter_group)
    for split, windows in ((kind.training_split, train_set), (kind.validation_split, validation_set)):
        if len(windows) and len(windows[0]) != window_steps:
            raise InputFileError(
                f"the {split} windows of {data_dir} hold {len(windows[0])} steps, but a {meter_group} model reads "
                f"{window_steps} (8 bars); build the data for that meter or choose its --meter"
            )
    return TrainingData(
        manifest=manifest,
        manifest_hash=manifest_hash(manifest),
        train_split=kind.training_split,
        validation_split=kind.validation_split,
        train_set=train_set,
        validation_set=validation_set if len(validation_set) else None,
    )


def data_grid(data_dir: Path):
    """The grid of a data folder's windows (its manifest's ``grid``; 16ths when it has none). A
    folder that is not a dataset reads as 16ths here: :func:`open_training_data` says what is wrong."""
    from clsm_cli.data.shards import manifest_grid, read_manifest
    from clsm_cli.timebase import SIXTEENTH_GRID

    try:
        return manifest_grid(read_manifest(Path(data_dir)))
    except InputFileError:
        return SIXTEENTH_GRID


def on_data_grid(config, data_dir: Path):
    """``config`` on the grid of the data it trains on (the model reads its tokens); UsageError when
    the grid does not hold the config's meters (triplets: x/4 and 2/2 only)."""
    from clsm_cli.models.config import with_grid
    from clsm_cli.timebase import Meter

    grid = data_grid(data_dir)
    if not all(grid.supports(Meter(*meter)) for meter in config.meters):
        raise UsageError(f"the data in {data_dir} is on the {grid.encoding} grid, which is defined in x/4 and 2/2 "
                         "only; choose one of those with --meter")
    return with_grid(config, grid)
