"""The meters the session's tiny models know (``conftest.py`` trains them) and their names."""

TRAINED_METERS = ("3/4", "6/8", "2/4")


def meter_model_name(meter: str) -> str:
    """``"3/4"`` -> ``"tiny-3-4"``: the name the session's model of that meter is installed under."""
    return "tiny-" + meter.replace("/", "-")
