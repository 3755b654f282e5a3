"""``clsm explore``: the terminal app over one loaded model (the ``explore`` extra: textual, miniaudio).

The command checks what it can before the screen opens (the extra installed, a terminal on stdout,
the song and bars as ``infill`` checks them, the model), then runs the app and says which files it
wrote. textual and the audio libraries are imported only here, inside the command.
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
from pathlib import Path
from typing import Optional

import typer

from clsm_cli.cli.console import escape_markup, reports_errors, stderr_console, warn
from clsm_cli.cli.edit import ENGINE, DEVICE, METER, MODEL, SEED, TEMPERATURE, TOP_P, TRACK, VOICE
from clsm_cli.errors import InputFileError, ModelError, UsageError

INSTALL_EXPLORE = 'clsm explore needs the explore extra; install it with: pip install "clsm-cli[explore]"'
NEEDS_TERMINAL = ("clsm explore is a full-screen app and needs a terminal on stdout; run it without piping "
                  "or redirecting its output (clsm infill --json is the way for scripts)")

EXPLORE_HELP = """\
Hear candidates for some bars in context, keep them, and walk the latent space between them.

A full-screen terminal app that keeps the model loaded. It shows the piano roll
of the target bars with a bar of context either side, and the candidates (the
original first): the pool clsm infill draws for the same seed (8 by default,
--pool), under the same defaults and controls, best first with the fit score.
Candidate k is the file clsm infill writes as -k with the same seed. In a
folder of outputs, plain clsm explore continues from the latest infill or vary
run there.

Keys: ←/→ previous/next candidate, space play/stop, r draw more pool members and
rank again, k keep (writes <stem>.explore-bars<A>-<B>-s<seed>-<k>.mid into
--out, with provenance that interpolate --start/--end and vary --around read,
the draw index and the score), a accept (writes
<stem>.accepted-<n>.mid and goes on editing it), b other bars, g a 2-D grid
between four candidates (arrows move; kept cells are …-grid-<x>-<y>.mid),
s controls (key, range, keep rhythm, max leap, density, pool: the pool is
drawn again under them), q quit, ? help.

Audio: a SoundFont (--soundfont, CLSM_SOUNDFONT, the system's), else a built-in
synth, through miniaudio; --port NAME sends MIDI to a port instead.

[bold]Examples[/bold]

  clsm explore song.mid --bars 3-4
  clsm explore song.mid --bars 5-6 --seed 7 --out takes
  clsm infill song.mid --bars 3-4 && clsm explore      continue from that run
"""


def register(app: typer.Typer) -> None:
    app.command(name="explore", help=EXPLORE_HELP)(explore)


@reports_errors
def explore(
    file: Optional[Path] = typer.Argument(None, help="The MIDI file. None: the song of the latest infill or vary run in --out.", show_default=False),
    bars: Optional[str] = typer.Option(None, "--bars", "-b", metavar="A-B", help="Bars to change (at most 4). Default with no FILE: the latest run's.", show_default=False),
    num: int = typer.Option(1, "--num", "-n", min=1, help="Candidates drawn at least at the start: the pool is --pool, raised to -n, as infill raises it (r draws more)."),
    pool: Optional[int] = typer.Option(None, "--pool", min=1, metavar="N", help="Candidates drawn at the start and ranked (default: infill's, 8).", show_default=False),
    seed: Optional[int] = SEED,
    temperature: Optional[float] = TEMPERATURE,
    top_p: Optional[float] = TOP_P,
    model: Optional[str] = MODEL,
    track: Optional[str] = TRACK,
    voice: str = VOICE,
    out: Path = typer.Option(Path("."), "--out", "-o", metavar="DIR", help="Folder for kept and accepted files (created if missing)."),
    soundfont: Optional[Path] = typer.Option(None, "--soundfont", metavar="FILE.sf2", help="The SoundFont to play with (default: CLSM_SOUNDFONT, then the system's).", show_default=False),
    port: Optional[str] = typer.Option(None, "--port", metavar="NAME", help="Send the notes to this MIDI output port instead of playing audio (needs python-rtmidi).", show_default=False),
    meter: Optional[str] = METER,
    engine: str = ENGINE,
    device: str = DEVICE,
) -> None:
    if importlib.util.find_spec("textual") is None:
        raise ModelError(INSTALL_EXPLORE)
    if not sys.stdout.isatty():
        raise UsageError(NEEDS_TERMINAL)
    session = open_session(file, bars, num, seed, temperature, top_p, model, track, voice, out, meter, engine, device,
                           pool)
    kept = run_app(session, soundfont, port)
    messages = stderr_console()
    for path in kept:
        messages.print(f"wrote {escape_markup(str(path))}", soft_wrap=True)
    if not kept:
        messages.print("no files written", style="dim")


def open_session(file: Optional[Path], bars: Optional[str], num: int, seed: Optional[int], temperature, top_p,
                 model: Optional[str], track: Optional[str], voice: str, out: Path, meter: Optional[str], engine: str,
                 device: str, pool: Optional[int] = None):
    """The session the app opens on: the song and bars given, or the latest run's in ``out``."""
    from clsm_cli.editing.inputs import check_readable
    from clsm_cli.editing.options import EditOptions, draw_seed
    from clsm_cli.editing.runs import latest_run
    from clsm_cli.explore.session import ExploreSession, quiet_models
    from clsm_cli.music.bars import BarRange
    from clsm_cli.music.meter import Meter

    if file is None:
        run = latest_run(out)
        if run is None:
            raise UsageError(f"give a MIDI file and --bars, e.g. clsm explore song.mid --bars 3-4 (no infill or vary "
                             f"outputs to continue from in {out})")
        if not run.input.exists():
            raise InputFileError(f"the song of {run.describe()}, {run.input}, is no longer there; give it as FILE")
        stderr_console().print(f"continuing from {escape_markup(run.describe())}", style="dim", soft_wrap=True)
        file, seed = run.input, run.seed if seed is None else seed
        bars = bars or f"{run.bars.first}-{run.bars.last}"
    if bars is None:
        raise UsageError("--bars is needed with a FILE, e.g. --bars 3-4")
    bar_range = BarRange.parse(bars)
    check_readable([file])
    options = EditOptions(verb="explore", bars=bar_range, seed=draw_seed() if seed is None else seed, out_dir=out,
                          num=num, temperature=temperature, top_p=top_p, track=track, voice=voice, model_arg=model,
                          meter=Meter.parse(meter) if meter is not None else None, pool=pool)
    messages = stderr_console()
    with messages.status("loading the model…", spinner="dots") if messages.is_terminal else contextlib.nullcontext():
        return ExploreSession(Path(file), options, quiet_models(model, engine, device, temperature, top_p))


def run_app(session, soundfont: Optional[Path], port: Optional[str]) -> list[Path]:
    from clsm_cli.explore.app import ExploreApp
    from clsm_cli.explore.playback import Player, open_device
    from clsm_cli.music.audio import choose_renderer

    for warning in session.warnings:
        warn(warning)
    choice = choose_renderer(soundfont)
    output, device_notice = open_device(port)
    notices = tuple(notice for notice in (choice.notice, device_notice) if notice)
    return ExploreApp(session, Player(output, choice.renderer), notices).run() or []
