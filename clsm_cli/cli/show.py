"""``clsm show FILE [--bars A-B] [--track T]``: what clsm sees in a MIDI file, before editing it.

Prints a summary (meter, tempo, bar count), the tracks table with the melody track marked, one line
saying why that track is the melody (and the runners-up, one line each), the key (and whether the
file's key signature or an estimate gave it), a one-line map of the bars where the melody plays, and a
piano roll of the melody (the chosen track quantized to the 16th grid and reduced to its top line)
with the selected bars highlighted. Without ``--bars`` the roll shows the first 8 bars; with it, the
8-bar window a model would see around those bars, and which installed model would edit them: the
models that know their meter are loaded and each one's fit is printed (``editing/model_choice.py``).
Warnings go to stderr. This command never imports torch (the numpy engine measures the fit).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from clsm_cli.cli.console import escape_markup, reports_errors, stdout_console, warn
from clsm_cli.constants import BARS_PER_WINDOW
from clsm_cli.errors import ClsmError

if TYPE_CHECKING:
    from clsm_cli.music.bars import BarRange

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
  clsm show pop.mid --meter 4/4       bars counted in 4/4 (a file labelled 1/4 throughout)
  clsm show pop.mid --phase 0         bars counted from tick 0, not from the detected grid phase
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
    meter: Optional[str] = typer.Option(
        None, "--meter", metavar="N/D",
        help="Count bars in this meter from the start instead of the file's time signatures (a 4/4 song labelled 1/4).",
        show_default=False,
    ),
    phase: Optional[int] = typer.Option(
        None, "--phase", metavar="TICKS",
        help="Put a bar line at this tick (negative: before the file; bar 1 is the bar holding tick 0). Default: the grid phase detected when the file is read, where it is clear (printed below). 0: from tick 0.",
        show_default=False,
    ),
) -> None:
    from clsm_cli.editing.prepare import open_song, prepare_song
    from clsm_cli.music import melody
    from clsm_cli.music.bars import BarRange
    from clsm_cli.timebase import Meter
    from clsm_cli.render.pianoroll import PianoRoll, roll_bars_from_song
    from clsm_cli.render.tables import melody_choice_lines, song_summary_table, tracks_table

    bar_range = BarRange.parse(bars) if bars is not None else None  # usage errors first
    meter_override = Meter.parse(meter) if meter is not None else None
    opened = open_song(file, bar_range, meter_override, phase)
    song, song_bars = opened.song, list(opened.bars)

    console = stdout_console()
    summaries = melody.track_summaries(song, song_bars)
    try:
        prepared = prepare_song(opened, bar_range, track)
    except ClsmError:
        # The table is what the user needs to pick a track, so show it before the error line.
        for message in opened.warnings:
            warn(message)
        console.print(song_summary_table(song, song_bars), "", tracks_table(summaries), sep="\n")
        raise
    for message in prepared.warnings:
        if message != phase_message(opened):  # the phase line below says it
            warn(message)
    melody_track = prepared.track
    console.print(song_summary_table(song, song_bars), "", tracks_table(summaries, melody_track.number), sep="\n")
    console.print("\n".join(melody_choice_lines(prepared.choice)), markup=False, highlight=False)
    if prepared.dropped_notes:
        warn(
            f"track {melody_track.number} plays chords: the roll shows its top line "
            f"({_count(prepared.dropped_notes, 'lower note')} left out)."
        )

    console.print(escape_markup(phase_line(opened, melody_track)), highlight=False)
    shown_bars = shown_bar_range(len(song_bars), bar_range)
    console.print(key_line(song, song_bars, shown_bars if bar_range else None), markup=False, highlight=False)
    console.print(melody_map(prepared.line, song_bars), markup=False, highlight=False)
    for line in model_lines(opened, bar_range or shown_bars, track):
        console.print(escape_markup(line), highlight=False)
    shown = roll_bars_from_song(song_bars[shown_bars.first - 1 : shown_bars.last])
    highlighted = set(bar_range.numbers) if bar_range else set()
    title = f"melody: track {melody_track.number} ({melody_track.label}), {shown_bars} of {len(song_bars)}"
    console.print()
    console.print(PianoRoll(list(prepared.line), shown, highlighted_bars=highlighted, title=title))


def phase_message(opened) -> Optional[str]:
    from clsm_cli.editing.prepare import phase_warning

    return phase_warning(opened.path.name, opened.phase) if opened.phase_rule == "detected" and opened.phase_ticks else None


def phase_line(opened, melody_track) -> str:
    """The grid phase bars are counted from (detected and applied by default, or ``--phase``), and
    what the detector sees (``music/phase.py``) on the melody track: offset, beat and bar phase."""
    from clsm_cli.editing.prepare import meter_run_steps
    from clsm_cli.music.phase import song_grid_phase

    detected = song_grid_phase(opened.song, melody_track, meter_run_steps(opened.bars))  # in the bars' meter (--meter)
    seen = f"detected {detected.describe()}"
    if opened.phase_rule == "forced":
        return f"grid phase: bars counted from tick {opened.phase_ticks} (--phase); {seen}"
    if not opened.phase_ticks:
        return (f"grid phase: bars counted from tick 0 ({seen}"
                + (f"; not applied by default, since the onsets sit on the grid from tick 0: --phase {detected.ticks} "
                   "applies it)" if detected.ticks else ")"))
    also = (f"; --phase {detected.ticks} also moves the bar lines to the detected downbeat (unsure: not by default)"
            if detected.bar_steps >= detected.steps_per_beat else "")
    return (f"grid phase: {opened.phase.describe_applied()} (detected; --phase 0 turns it off); "
            f"{seen}{also}")


def model_lines(opened, target: "BarRange", track: Optional[str]) -> list[str]:
    """Which model would edit ``target``: each eligible model's fit (the models are loaded) and the choice."""
    from clsm_cli.editing.model_choice import choice_for_show

    try:
        choice, sentence = choice_for_show(opened, target, track)
    except ClsmError as error:
        return [f"model: {error.message}"]
    if choice is None:
        return [sentence]
    return choice.lines(target)


def shown_bar_range(num_song_bars: int, bar_range: "BarRange | None") -> "BarRange":
    """Bars the roll shows.

    No range: the first 8 bars (or the whole song if shorter). A range shorter than 8 bars: the
    8-bar window centred on it and clamped to the song, the context a model would see. A longer
    range: exactly that range.
    """
    from clsm_cli.music.bars import BarRange, window_around

    if bar_range is None:
        return BarRange(1, min(num_song_bars, BARS_PER_WINDOW))
    if bar_range.count >= BARS_PER_WINDOW:
        return bar_range
    return window_around(bar_range, num_song_bars)


MAP_WIDTH = 40  # bars per character grows past this many bars, so the map stays one line


def key_line(song, song_bars, shown: "BarRange | None") -> str:
    """``key: E minor (key signature)``: the key of the shown bars (the whole song without --bars)."""
    from clsm_cli.music.key import song_key

    first, last = (shown.first, shown.last) if shown is not None else (1, len(song_bars))
    key = song_key(song, song_bars[first - 1].start_tick, song_bars[last - 1].end_tick)
    where = "" if shown is None else f" in bars {first}-{last}"
    if key is None:
        return f"key{where}: none (no pitched notes)"
    return f"key{where}: {key.name} ({key.source})"


def melody_map(line, song_bars) -> str:
    """One line: where the melody plays, bar by bar from bar 1 to the last (``█`` a bar with a note
    starting in it, ``·`` none; past ``MAP_WIDTH`` bars one mark covers several)."""
    playing = [False] * len(song_bars)
    starts = [bar.first_step for bar in song_bars]
    import bisect

    for note in line:
        index = bisect.bisect_right(starts, note.start_step) - 1
        if 0 <= index < len(playing):
            playing[index] = True
    per_char = max(1, -(-len(playing) // MAP_WIDTH))
    cells = "".join("█" if any(playing[i : i + per_char]) else "·" for i in range(0, len(playing), per_char))
    scale = "" if per_char == 1 else f" ({per_char} a mark)"
    return f"melody in {sum(playing)} of {len(playing)} bars{scale}: 1 {cells} {len(playing)}"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"
