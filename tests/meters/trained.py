"""The meters the session's tiny models know (``conftest.py`` trains them), their names, and which
model the editing commands choose for a meter when nothing is forced."""

import json

from clsm_cli.checkpoint import shipped_models_dir
from clsm_cli.timebase import Meter

TRAINED_METERS = ("3/4", "6/8", "2/4")


def meter_model_name(meter: str) -> str:
    """``"3/4"`` -> ``"tiny-3-4"``: the name the session's model of that meter is installed under."""
    return "tiny-" + meter.replace("/", "-")


def chosen_model(meter: str) -> str:
    """The model an edit in ``meter`` uses with no ``--model``: a shipped model that knows the meter's
    group comes first (folk-small first among them), else the session's tiny model of that meter."""
    group = Meter.parse(meter).group
    shipped = sorted(path for path in shipped_models_dir().iterdir() if (path / "config.json").is_file())
    for folder in sorted(shipped, key=lambda path: path.name != "folk-small"):
        meters = json.loads((folder / "config.json").read_text())["config"]["meters"]
        if group in {Meter(*pair).group for pair in meters}:
            return folder.name
    return meter_model_name(meter)
