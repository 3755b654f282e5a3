"""Meters live in the time base (``clsm_cli/timebase.py``); this name stays for older imports."""

from clsm_cli.timebase import DEFAULT_METER, FOUR_FOUR, Meter, group_members, meters_text  # noqa: F401
