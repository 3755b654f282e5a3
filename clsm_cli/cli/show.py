"""``clsm show FILE [--bars A-B] [--track T]``: what clsm sees in a MIDI file, before editing it.

Prints a summary (meter, tempo, bar count), the tracks table with the melody track marked, and a
piano roll of the melody (the chosen track quantized to the 16th grid and reduced to its top line)
with the selected bars highlighted. Without ``--bars`` the roll shows the first 8 bars; with it, the
8-bar window a model would see around those bars. Warnings go to stderr. This command never
imports torch, so it stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from clsm_cli.cli.console import reports_errors, stdout_console, warn
from clsm_cli.constants import BARS_PER_WINDOW
from clsm_cli.errors import ClsmError

HELP = """\
Show a MIDI file's tracks, meter, tempo and a piano roll of its melody.

The piano roll shows the melody track clsm would edit (chosen automatically, or with --track),
on the 16th-note grid, with the bars given by --bars highlighted. Use it to pick the bars and the
track before an edit.

[bold]Examples[/bold]

  clsm show song.mid                  the first 8 bars
  clsm show song.mid --bars 3-4       bars 3-4 highlighted, in the 8 bars around them
  clsm show song.mid --bars 1-16      bars 1 to 16
  clsm show song.mid --track 2        the melody of track 2 (a number from the table, or a name)
  NO_COLOR=1 clsm show song.mid       plain text, no colours
"""


def register(app: typer.Typer) -> None:
    app.command(name="show", help=HELP, no_args_is_help=True)(show)


@reports_errors
def show(
    file: Path = typer.Argument(..., metavar="FILE", help="The MIDI file (.mid) to show.", show_default=False),
    bars: Optional[str] = typer.Option(
        None, "--bars", "-b", metavar="A-B", help="Bars to highlight, e.g. 3-4 or 5 (numbered from 1)."
    ),
    track: Optional[str] = typer.Option(
        None,
        "--track",
        "-t",
        metavar="TRACK",
        help="Melody track: its number in the tracks table, or its name. Default: chosen automatically.",
    ),
) -> None:
    from clsm_cli.music import bars as bar_lines
    from clsm_cli.music import melody, midi_io
    from clsm_cli.render.pianoroll import PianoRoll, roll_bars_from_song
    from clsm_cli.render.tables import song_summary_table, tracks_table

    bar_range = bar_lines.parse_bar_range(bars) if bars is not None else None  # usage errors first
    song = midi_io.read_midi(file)
    song_bars = bar_lines.song_bars(song)
    if bar_range is not None:
        bar_lines.check_bar_range(bar_range[0], bar_range[1], song_bars, file.name)
    for message in song.warnings:
        warn(message)
    if not song.had_time_signature:
        warn(f"{file.name} has no time signature: assuming 4/4 (the MIDI default).")

    console = stdout_console()
    summaries = melody.track_summaries(song, song_bars)
    try:
        melody_track = melody.choose_melody_track(song, track, bar_range, song_bars)
    except ClsmError:
        # The table is what the user needs to pick a track, so show it before the error line.
        console.print(song_summary_table(song, song_bars), "", tracks_table(summaries), sep="\n")
        raise

    console.print(song_summary_table(song, song_bars), "", tracks_table(summaries, melody_track.number), sep="\n")

    quantized = melody.quantize_track(melody_track, song_bars, song.ticks_per_beat)
    if quantized.report.summary():
        warn(f"track {melody_track.number}: {quantized.report.summary()}.")
    notes, dropped = melody.reduce_to_monophony(quantized.notes)
    if dropped:
        warn(
            f"track {melody_track.number} plays chords: the roll shows its top line "
            f"({_count(dropped, 'lower note')} left out)."
        )

    first_bar, last_bar = shown_bar_range(len(song_bars), bar_range)
    shown = roll_bars_from_song(song_bars[first_bar - 1 : last_bar])
    highlighted = set(range(bar_range[0], bar_range[1] + 1)) if bar_range else set()
    title = (
        f"melody: track {melody_track.number} ({melody_track.label}), "
        f"{bar_lines.format_bar_range(first_bar, last_bar)} of {len(song_bars)}"
    )
    console.print()
    console.print(PianoRoll(notes, shown, highlighted_bars=highlighted, title=title))


def shown_bar_range(num_song_bars: int, bar_range: tuple[int, int] | None) -> tuple[int, int]:
    """Bars the roll shows (1-based, inclusive).

    No range: the first 8 bars (or the whole song if shorter). A range shorter than 8 bars: the
    8-bar window centred on it and clamped to the song, the context a model would see. A longer
    range: exactly that range.
    """
    from clsm_cli.music.tokens import window_bars

    if bar_range is None:
        return 1, min(num_song_bars, BARS_PER_WINDOW)
    first, last = bar_range
    if last - first + 1 >= BARS_PER_WINDOW:
        return first, last
    return window_bars(num_song_bars, first, last)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"
