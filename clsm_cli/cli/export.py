"""``clsm export FILE [--track T] [--bars A-B] [--meter N/D] --musicxml OUT | --abc OUT``: notation out.

The melody track is the one ``clsm show`` chooses (or ``--track``); its notes (chords in MusicXML,
the top line in ABC) go on the 16th grid, or on 8th-note triplets where the music needs them,
in measures as ``clsm show`` counts the bars. ``-`` writes to stdout. No model, no torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from clsm_cli.cli.console import reports_errors, warn
from clsm_cli.errors import UsageError

HELP = """\
Write a MIDI file's melody as notation: MusicXML (for MuseScore or any score editor) or ABC.

The track is the melody clsm show picks (or --track). Measures follow the file's time
signatures (or --meter); notes go on the 16th grid, or on 8th-note triplets where the music
needs them; the key signature, tempo and track name come along. MusicXML keeps chords (notes
that start and end together) and lower voices; ABC holds the top line. Give - as OUT for stdout.

[bold]Examples[/bold]

  clsm export song.mid --musicxml song.musicxml
  clsm export song.mid --bars 5-12 --abc -          bars 5-12 as ABC on stdout
  clsm export pop.mid --meter 4/4 --musicxml pop.musicxml
  mscore -o song.pdf song.musicxml                  a PDF, with MuseScore
"""


def register(app: typer.Typer) -> None:
    app.command(name="export", help=HELP, no_args_is_help=True)(export)


@reports_errors
def export(
    file: Path = typer.Argument(..., metavar="FILE", help="The MIDI file (.mid).", show_default=False),
    musicxml: Optional[str] = typer.Option(None, "--musicxml", metavar="OUT", help="Write MusicXML here (- for stdout).", show_default=False),
    abc: Optional[str] = typer.Option(None, "--abc", metavar="OUT", help="Write ABC here (- for stdout).", show_default=False),
    track: Optional[str] = typer.Option(None, "--track", "-t", metavar="TRACK", help="Melody track: its number in clsm show's table, or its name. Default: chosen automatically."),
    bars: Optional[str] = typer.Option(None, "--bars", "-b", metavar="A-B", help="Only these bars (numbered from 1, as clsm show prints them).", show_default=False),
    meter: Optional[str] = typer.Option(None, "--meter", metavar="N/D", help="Count bars in this meter from the start instead of the file's time signatures.", show_default=False),
    force: bool = typer.Option(False, "--force", help="Overwrite OUT if it exists."),
) -> None:
    from clsm_cli.editing.formats import melody_notation, write_text_output
    from clsm_cli.editing.prepare import open_song, prepare_song
    from clsm_cli.music.bars import BarRange
    from clsm_cli.music.meter import Meter

    if (musicxml is None) == (abc is None):
        raise UsageError("give one of --musicxml OUT or --abc OUT (- for stdout)")
    out = musicxml if musicxml is not None else abc
    bar_range = BarRange.parse(bars) if bars is not None else None
    meter_override = Meter.parse(meter) if meter is not None else None
    opened = open_song(file, bar_range, meter_override)
    prepared = prepare_song(opened, bar_range, track)
    for message in opened.warnings:  # not the 16th grid's quantization report: notation holds triplets
        warn(message)
    text, lower = melody_notation(prepared, bar_range, "musicxml" if musicxml is not None else "abc")
    if abc is not None and lower:
        warn(f"{opened.path.name}: track {prepared.track_label} plays chords; the ABC holds its top line "
             f"({lower} lower notes left out; --musicxml keeps them)")
    if out == "-":
        typer.echo(text, nl=False)
        return
    from clsm_cli.music.midi_write import check_output_path

    check_output_path(Path(out), force, opened.path)  # the input never; an existing file only with --force
    write_text_output(Path(out), text, force)
