"""``clsm infill``, ``clsm interpolate`` and ``clsm vary``: new versions of some bars of a melody.

Each command parses and checks its options and its input files (one that does not exist or cannot be
read is refused before the model loads; inputs of one batch with the same stem get output names
told apart by their folders, :mod:`clsm_cli.editing.inputs`), chooses the model for each file by the
meter of its target bars (``editing/model_choice.py``; ``--model`` forces one), loads each model once, runs
:func:`clsm_cli.editing.verbs.edit_file` on every input file and renders what came back: a piano-roll
preview of each output on stdout (when it is a terminal, or with ``--preview``), warnings and one
error line per failed file on stderr, and a summary table at the end (none after one file that
failed: its error line says it all). With ``--json`` stdout holds
one JSON object per input file and nothing else. The exit code is 0 when every file succeeded,
otherwise that of the first failure. Torch is imported only when the torch engine runs a command.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, List, Optional, Sequence

import typer
from rich.console import Console

from clsm_cli.cli.console import error_line, escape_markup, reports_errors, stderr_console, stdout_console, warn
from clsm_cli.errors import EXIT_OK

if TYPE_CHECKING:
    from clsm_cli.editing.options import EditOptions, FileResult
    from clsm_cli.sampling import Decoding

COMPACT_ROLLS_ABOVE = 4  # more outputs per file than this: compact piano rolls

COMMON_NOTES = """\
Controls steer the new notes as they are drawn: --key, --range (default: 3
semitones around the melody near the bars), --keep-rhythm, --max-leap,
--density. On a track with chords the new line stays above the kept notes.

Only the chosen bars of the melody track change; everything else in each
file stays exactly as it was. Outputs are named
<stem>.<verb>-bars<A>-<B>-s<seed>-<k>.mid (in --out), so a rerun with another
seed never overwrites earlier ones; inputs of one run with the same name get
their folder's name too (a-song, b-song). Each output records the model, seed,
bars, command and its latent w in a text event (and in --json), so that
interpolate --start/--end and vary --around can reuse it.
"""

INFILL_HELP = f"""\
Write new versions of some bars (infills), sampled given the bars around them.

{COMMON_NOTES}
Ranges longer than 4 bars are filled in chunks of at most 4 bars, left to
right: each chunk sees the bars before it (new ones included) and the bars
after it. A pool of versions (--pool, default 8) is drawn and the best -n are
written, best first (file -1 is the best; --rank none keeps draw order). A
version that is all rests, the original bars or a copy of another is drawn
again (up to 4 draws; --json lists them under "redraws") and dropped if it
stays so; a file left with none fails (exit 3). Bars where the melody is
silent (an intro) get a new melody, at least one note per bar.

[bold]Examples[/bold]

  clsm infill song.mid --bars 3-4                  4 infills of bars 3-4
  clsm infill song.mid --bars 3-4 -n 8 --seed 7    8 infills, reproducible
  clsm infill song.mid --bars 5-6 --combined       also all infills in one file
  clsm infill songs/*.mid --bars 5-6 --json        batch, one JSON line per file
  clsm infill song.mid --bars 3-4 --key auto --max-leap 7 --range G3-E6
  clsm infill song.mid --bars 3-4 --keep-rhythm    new pitches, same rhythm
"""

INTERPOLATE_HELP = f"""\
Morph some bars from one version to another in --steps steps (steps + 1 files).

Right after clsm infill or clsm vary, no FILE is needed: it continues from
the latest run in --out (the current folder), from its candidate 1 to 2
(--start 3 --end 1 choose others). --start and --end also take files (say two
infills you like); with no FILE the song is the start file itself. With a
FILE, the endpoints are two samples from the model, the ones clsm infill -n 2
with the same seed writes; --from-original starts from the existing bars.

The first and last files hold the chosen bars note for note. The steps
between decode points on the line between their latents, anchored to both
ends: every step reuses the random numbers that reproduce the ends, blended
along the way, so neighbours differ by a few notes at most.

{COMMON_NOTES}
[bold]Examples[/bold]

  clsm infill song.mid --bars 3-4 -n 2 --seed 1    two infills, then
  clsm interpolate --steps 8                       9 files, infill 1 to infill 2
  clsm interpolate --start 2 --end 1               the other way round
  clsm interpolate song.mid --bars 3-4 --from-original   existing bars to a sample
  clsm interpolate --start a.mid --end b.mid --combined  also all steps in one file
"""

VARY_HELP = f"""\
Write variations of some bars: small moves in the model's latent space.

The centre is the existing bars (their posterior latent), or an earlier
output given with --around. --amount (0 to 4) sets how far variations go: 0
writes the centre's bars themselves, 0.25 changes a few notes, 1 is as free
as a new sample (the model's prior width). With sampled decoding (the
default) each variation is decoded with random numbers anchored to the
centre's notes, blended with fresh ones in proportion to the amount (up to
1), so the amount sets how far the notes move. Argmax decoding (temperature
0, the paper's evaluation protocol) moves through the latent only.

{COMMON_NOTES}
[bold]Examples[/bold]

  clsm vary song.mid --bars 5-6                   4 variations, amount 0.5
  clsm vary song.mid --bars 5-6 --amount 0.25 -n 8
  clsm vary song.mid --bars 5-6 --around song.infill-bars5-6-s7-2.mid
"""


def register(app: typer.Typer) -> None:
    app.command(name="infill", help=INFILL_HELP, no_args_is_help=True)(infill)
    app.command(name="interpolate", help=INTERPOLATE_HELP)(interpolate)
    app.command(name="vary", help=VARY_HELP, no_args_is_help=True)(vary)


# --- options shared by the three commands ----------------------------------------------------------

FILES = typer.Argument(..., help="MIDI files to edit (.mid); many files load the model once.", show_default=False)
BARS = typer.Option(..., "--bars", "-b", metavar="A-B", help="Bars to change, e.g. 3-4 or 5 (numbered from 1, as clsm show prints them).", show_default=False)
NUM = typer.Option(4, "--num", "-n", min=1, help="How many versions to write per file.")
SEED = typer.Option(None, "--seed", "-s", min=0, help="Random seed; the same seed gives the same files, and file k is the k-th best of the same pool for any -n up to the pool size. Default: drawn and reported.")
TEMPERATURE = typer.Option(None, "--temperature", min=0.0, help="Sampling temperature. 0 is argmax, the paper's evaluation protocol (reproducible model comparisons; melodies often repeat one pitch). Default: what the model recommends.")
TOP_P = typer.Option(None, "--top-p", min=0.0, max=1.0, help="Nucleus sampling: keep the most likely tokens up to this mass. Default: the model's.")
MODEL = typer.Option(None, "--model", "-m", metavar="NAME|DIR", help="A model from clsm models, or a model directory. Default: the installed model that knows the target bars' meter (the shipped one first).")
TRACK = typer.Option(None, "--track", "-t", metavar="TRACK", help="Melody track: its number in clsm show's table, or its name. Default: chosen automatically.")
VOICE = typer.Option("top", "--voice", metavar="top|all", help="What of the melody track the bars lose: its top voice (the notes under it stay), or all its notes.")
OUT = typer.Option(Path("."), "--out", "-o", metavar="DIR", help="Folder for the outputs (created if missing).")
FORCE = typer.Option(False, "--force", help="Overwrite outputs that already exist.")
JSON = typer.Option(False, "--json", help="Print one JSON object per input file on stdout (messages stay on stderr).")
PREVIEW = typer.Option(None, "--preview/--no-preview", help="Piano-roll previews on stdout. Default: only when stdout is a terminal.", show_default=False)
WAV = typer.Option(False, "--wav", help="Also render each output to WAV (fluidsynth with a General MIDI soundfont when present).")
COMBINED = typer.Option(False, "--combined", help="Also write one file with every version (as tracks; in sequence for interpolate).")
DEVICE = typer.Option("auto", "--device", metavar="auto|cpu|cuda", help="Where the model runs; cuda needs the torch engine.")
METER = typer.Option(None, "--meter", metavar="N/D", help="Count bars in this meter from the start instead of the file's time signatures (a 4/4 song labelled 1/4); the outputs keep the file's own.", show_default=False)
KEY = typer.Option(None, "--key", metavar="KEY|auto", help="Every new note in this key's scale: auto (the song's key, as clsm show prints it), or a tonic and mode: G, Em, Bb, E dorian, A harmonic-minor, D mixolydian.", show_default=False)
RANGE = typer.Option(None, "--range", metavar="LOW-HIGH|any", help="Every new note inside this range: note names (C4 is MIDI 60) or numbers, e.g. G3-E6. Default: 3 semitones around the melody's notes near the bars; any turns that off.", show_default=False)
KEEP_RHYTHM = typer.Option(False, "--keep-rhythm", help="New pitches on the original bars' rhythm: the same onsets and lengths, every rest stays a rest.")
MAX_LEAP = typer.Option(None, "--max-leap", metavar="N", help="No interval over N semitones between consecutive notes, the steps into and out of the bars included.", show_default=False)
DENSITY = typer.Option(None, "--density", metavar="LOW-HIGH", help="Notes per bar, e.g. 2-4 (approximate).", show_default=False)
POOL = typer.Option(None, "--pool", metavar="N", help="Candidates drawn before the best -n are written (default 8; raised to -n).", show_default=False)
RANK = typer.Option("fit", "--rank", metavar="fit|none", help="Order of the written candidates: by the fit score (best first), or none (draw order).")
ENGINE = typer.Option("auto", "--engine", metavar="auto|numpy|torch", help="Which inference engine runs the model; both give the same notes for a seed on a CPU.")


@reports_errors
def infill(
    files: List[Path] = FILES,
    bars: str = BARS,
    num: int = NUM,
    seed: Optional[int] = SEED,
    temperature: Optional[float] = TEMPERATURE,
    top_p: Optional[float] = TOP_P,
    model: Optional[str] = MODEL,
    track: Optional[str] = TRACK,
    voice: str = VOICE,
    out: Path = OUT,
    force: bool = FORCE,
    json_output: bool = JSON,
    preview: Optional[bool] = PREVIEW,
    wav: bool = WAV,
    combined: bool = COMBINED,
    device: str = DEVICE,
    engine: str = ENGINE,
    meter: Optional[str] = METER,
    key: Optional[str] = KEY,
    pitch_range: Optional[str] = RANGE,
    keep_rhythm: bool = KEEP_RHYTHM,
    max_leap: Optional[int] = MAX_LEAP,
    density: Optional[str] = DENSITY,
    pool: Optional[int] = POOL,
    rank: str = RANK,
) -> None:
    values = _steering_values(key, pitch_range, keep_rhythm, max_leap, density, pool, rank)
    _run("infill", files, bars, json_output, preview, engine, device, model,
         dict(meter=meter, num=num, seed=seed, temperature=temperature, top_p=top_p, track=track, voice=voice, out_dir=out, force=force,
              wav=wav, combined=combined, **values))


@reports_errors
def interpolate(
    files: Optional[List[Path]] = typer.Argument(None, help="MIDI files to edit (.mid). None: continue from the latest infill or vary outputs in --out.", show_default=False),
    bars: Optional[str] = typer.Option(None, "--bars", "-b", metavar="A-B", help="Bars to morph, e.g. 3-4. Default: the bars of the outputs it continues from.", show_default=False),
    steps: int = typer.Option(8, "--steps", "-j", min=1, help="Steps from one endpoint to the other (writes steps + 1 files)."),
    from_original: bool = typer.Option(False, "--from-original", help="Start from the existing bars of the song."),
    start: Optional[str] = typer.Option(None, "--start", metavar="FILE|K", help="Start at an earlier output: a file, or candidate K of the latest run. Default: candidate 1."),
    end: Optional[str] = typer.Option(None, "--end", metavar="FILE|K", help="End at an earlier output: a file, or candidate K of the latest run. Default: candidate 2."),
    seed: Optional[int] = SEED,
    temperature: Optional[float] = TEMPERATURE,
    top_p: Optional[float] = TOP_P,
    model: Optional[str] = MODEL,
    track: Optional[str] = TRACK,
    voice: str = VOICE,
    out: Path = OUT,
    force: bool = FORCE,
    json_output: bool = JSON,
    preview: Optional[bool] = PREVIEW,
    wav: bool = WAV,
    combined: bool = COMBINED,
    device: str = DEVICE,
    engine: str = ENGINE,
    meter: Optional[str] = METER,
    key: Optional[str] = KEY,
    pitch_range: Optional[str] = RANGE,
    keep_rhythm: bool = KEEP_RHYTHM,
    max_leap: Optional[int] = MAX_LEAP,
    density: Optional[str] = DENSITY,
    pool: Optional[int] = POOL,
) -> None:
    from clsm_cli.editing.runs import plan_interpolation

    values = _steering_values(key, pitch_range, keep_rhythm, max_leap, density, pool, "fit")
    plan = plan_interpolation(files or [], bars, start, end, from_original, out)
    if plan.message:
        stderr_console().print(escape_markup(plan.message), style="dim", soft_wrap=True)
    songs = list(files) if files else [plan.song]
    _run("interpolate", songs, f"{plan.bars.first}-{plan.bars.last}", json_output, preview, engine, device, model,
         dict(meter=meter, steps=steps, from_original=from_original, start_file=plan.start_file, end_file=plan.end_file,
              seed=seed, temperature=temperature, top_p=top_p, track=track, voice=voice, out_dir=out, force=force, wav=wav,
              combined=combined, **values))


@reports_errors
def vary(
    files: List[Path] = FILES,
    bars: str = BARS,
    amount: float = typer.Option(0.5, "--amount", "-a", help="How far variations move from the centre: 0 (the centre itself) to 4 (four prior standard deviations)."),
    around: Optional[Path] = typer.Option(None, "--around", metavar="FILE", help="Vary around an earlier output instead of the existing bars."),
    num: int = NUM,
    seed: Optional[int] = SEED,
    temperature: Optional[float] = TEMPERATURE,
    top_p: Optional[float] = TOP_P,
    model: Optional[str] = MODEL,
    track: Optional[str] = TRACK,
    voice: str = VOICE,
    out: Path = OUT,
    force: bool = FORCE,
    json_output: bool = JSON,
    preview: Optional[bool] = PREVIEW,
    wav: bool = WAV,
    combined: bool = COMBINED,
    device: str = DEVICE,
    engine: str = ENGINE,
    meter: Optional[str] = METER,
    key: Optional[str] = KEY,
    pitch_range: Optional[str] = RANGE,
    keep_rhythm: bool = KEEP_RHYTHM,
    max_leap: Optional[int] = MAX_LEAP,
    density: Optional[str] = DENSITY,
    pool: Optional[int] = POOL,
    rank: str = RANK,
) -> None:
    values = _steering_values(key, pitch_range, keep_rhythm, max_leap, density, pool, rank)
    _run("vary", files, bars, json_output, preview, engine, device, model,
         dict(meter=meter, amount=amount, around_file=around, num=num, seed=seed, temperature=temperature, top_p=top_p,
              track=track, voice=voice, out_dir=out, force=force, wav=wav, combined=combined, **values))


# --- the shared run ------------------------------------------------------------------------------


def _steering_values(key: Optional[str], pitch_range: Optional[str], keep_rhythm: bool, max_leap: Optional[int],
                     density: Optional[str], pool: Optional[int], rank: str) -> dict:
    """The steering options as EditOptions fields (parse errors are usage errors, exit 2)."""
    from clsm_cli.editing.controls import ControlRequest, parse_density, parse_range
    from clsm_cli.errors import UsageError

    if rank not in ("fit", "none"):
        raise UsageError(f"--rank must be fit or none, got {rank!r}")
    key = "auto" if key is not None and key.strip().lower() == "auto" else key
    request = ControlRequest(key, parse_range(pitch_range), keep_rhythm, max_leap, parse_density(density))
    return dict(controls=request, pool=pool, rank=rank == "fit")


def _run(verb: str, files: Sequence[Path], bars: str, json_output: bool, preview: Optional[bool], engine: str,
         device: str, model: Optional[str], values: dict) -> None:
    from clsm_cli.editing.inputs import check_readable, distinct_inputs, output_stems
    from clsm_cli.editing.model_choice import EditModels, refused_result
    from clsm_cli.editing.options import EditOptions, check_options, draw_seed
    from clsm_cli.editing.verbs import edit_file
    from clsm_cli.errors import ClsmError
    from clsm_cli.music.bars import BarRange
    from clsm_cli.music.meter import Meter

    bar_range = BarRange.parse(bars)  # usage errors before any file or model is touched
    seed = values.pop("seed")
    meter = values.pop("meter")
    options = EditOptions(verb=verb, bars=bar_range, seed=draw_seed() if seed is None else seed, model_arg=model,
                          meter=Meter.parse(meter) if meter is not None else None, **values)
    check_options(options)
    # A missing or unreadable input (--start, --end and --around files included) is refused before
    # the model is loaded.
    check_readable([*files, *(path for path in (options.start_file, options.end_file, options.around_file) if path)])
    files, repeated = distinct_inputs(files)
    for path in repeated:
        warn(f"{path} is given more than once; it is edited once")
    stems = output_stems(files)

    messages = stderr_console()
    spinner = messages.is_terminal and messages.color_system is not None  # NO_COLOR: no cursor codes

    def loading():
        return messages.status("loading the model…", spinner="dots") if spinner else contextlib.nullcontext()

    def announce(edit_model, decoding) -> None:
        messages.print(f"model {escape_markup(edit_model.name)} ({edit_model.device}), seed {options.seed}, "
                       f"{_decoding_text(decoding)}", style="dim", soft_wrap=True)

    # --model loads now (a broken model fails before any file); otherwise each file's meter chooses.
    models = EditModels(model, engine, device, options.temperature, options.top_p, loading, announce)

    show_previews = _wants_previews(preview, json_output)
    results: list[FileResult] = []
    with _Progress(messages, len(files)) as progress:
        for path, stem in zip(files, stems):
            with progress.paused():  # choosing may load a model, with its own spinner
                try:
                    edit_model, decoding = models.for_file(Path(path), options)
                    refused = None
                except ClsmError as error:
                    refused = refused_result(Path(path), options, error, models.forced)
            progress.begin(Path(path).name)
            result = refused or edit_file(Path(path), options, edit_model, decoding, output_stem=stem)
            progress.end()
            results.append(result)
            with progress.paused():
                _report(result, messages, json_output, show_previews)
    _summary(results, options, messages)
    exit_code = next((result.exit_code for result in results if not result.ok), EXIT_OK)
    if exit_code != EXIT_OK:
        raise typer.Exit(exit_code)


def _decoding_text(decoding: "Decoding") -> str:
    if decoding.is_argmax:
        return "argmax decoding"
    nucleus = f", top-p {decoding.top_p:g}" if decoding.top_p < 1 else ""
    return f"temperature {decoding.temperature:g}{nucleus}"


def _report(result: "FileResult", messages: Console, json_output: bool, show_previews: Optional[str]) -> None:
    name = result.input.name
    for warning in result.warnings:
        warn(warning if name in warning else f"{name}: {warning}")
    if result.error is not None:
        error_line(result.error.message if name in result.error.message else f"{name}: {result.error.message}")
    if json_output:
        record = result.to_json()
        if result.verb == "interpolate" and result.outputs:
            from clsm_cli.editing.distances import series_distances

            record.update(series_distances([output.new_notes for output in result.outputs]))
        typer.echo(json.dumps(record))
    if show_previews and result.previews:
        console = messages if show_previews == "stderr" else stdout_console()
        _print_previews(result, console)


def _print_previews(result: "FileResult", console: Console) -> None:
    from clsm_cli.render.pianoroll import PianoRoll, shared_pitch_range

    compact = len(result.previews) > COMPACT_ROLLS_ABOVE
    pitch_range = shared_pitch_range([view.notes for view in result.previews], result.previews[0].bars)
    for view in result.previews:
        console.print()
        console.print(PianoRoll(view.notes, view.bars, highlighted_bars=view.target_bars, dim_other_bars=True,
                                title=view.title, compact=compact, pitch_range=pitch_range))


def _summary(results: Sequence["FileResult"], options: "EditOptions", messages: Console) -> None:
    """The table of files and outputs, and one line of totals; a failed file's error was said already.

    One file that failed has nothing more to say: its error line is the whole story.
    """
    from rich import box
    from rich.table import Table

    if len(results) == 1 and not results[0].ok:
        return
    renamed = [result for result in results if result.output_stem != result.input.stem]
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    table.add_column("file", overflow="fold")
    table.add_column("result", no_wrap=True)
    table.add_column("outputs", overflow="fold")
    for result in results:
        # The file (its full path where two inputs share a name), and under it the edited track.
        name = str(result.input) if result in renamed else result.input.name
        file_cell = escape_markup(name) + (f"\n[dim]track {escape_markup(result.track)}[/dim]" if result.track else "")
        if result.ok:
            table.add_row(file_cell, "[green]ok[/green]", escape_markup(_outputs_text(result)))
        else:
            table.add_row(file_cell, f"[red]exit {result.exit_code}[/red]", "none (error above)")
    messages.print()
    messages.print(table)
    if renamed:
        names = ", ".join(f"{result.input} as {result.output_stem}.*" for result in renamed)
        messages.print(f"inputs with the same name are told apart by their folders: {escape_markup(names)}",
                       soft_wrap=True)
    succeeded = sum(result.ok for result in results)
    failed = len(results) - succeeded
    tail = f", {failed} failed" if failed else ""
    counted = f"{succeeded} of {len(results)} file{'s' if len(results) != 1 else ''} edited{tail}"
    if not succeeded:
        messages.print(counted, soft_wrap=True)
        return
    folder = "the current folder" if str(options.out_dir) in ("", ".") else str(options.out_dir)
    messages.print(f"{counted}, outputs in {escape_markup(folder)}; repeat with --seed {options.seed}", soft_wrap=True)


def _outputs_text(result: "FileResult") -> str:
    if not result.outputs:
        return "none"
    first = result.outputs[0].path
    stem = result.output_stem
    # The file column names the input, and the folder is said once below the table: a plain stem is
    # left out, one a batch had to change is kept.
    plain = stem == result.input.stem and first.name.startswith(stem + ".")
    suffix = first.name[len(stem) + 1 :] if plain else first.name
    if len(result.outputs) > 1:
        suffix = f"{suffix[: suffix.rfind('-') + 1]}{{1..{len(result.outputs)}}}.mid"
    text = f"{len(result.outputs)} × {suffix}"
    if result.combined is not None:
        text += " + all"
    if result.outputs[0].wav is not None:
        text += f" + WAV ({result.outputs[0].wav_renderer})"
    return text


def _wants_previews(preview: Optional[bool], json_output: bool) -> Optional[str]:
    """Where previews go: "stdout", "stderr" (forced alongside --json) or None."""
    if preview is False:
        return None
    if json_output:
        return "stderr" if preview else None
    if preview:
        return "stdout"
    return "stdout" if stdout_console().is_terminal else None


class _Progress:
    """Progress on stderr when it is a terminal: a spinner for one file, a bar over many files.

    Transient (it disappears when done) and paused while a file's results are printed. With
    NO_COLOR it stays off, so the output holds no escape codes of any kind.
    """

    def __init__(self, console: Console, num_files: int):
        self.console = console
        self.num_files = num_files
        self.display = None
        self.task = None

    def __enter__(self) -> "_Progress":
        if self.console.is_terminal and self.console.color_system is not None:  # NO_COLOR: no cursor codes either
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            columns = [SpinnerColumn(), TextColumn("{task.description}")]
            if self.num_files > 1:
                columns += [BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
            self.display = Progress(*columns, console=self.console, transient=True)
            self.task = self.display.add_task("", total=self.num_files)
            self.display.start()
        return self

    def begin(self, name: str) -> None:
        if self.display is not None:
            self.display.update(self.task, description=f"editing {escape_markup(name)}")

    def end(self) -> None:
        if self.display is not None:
            self.display.advance(self.task)

    def paused(self):
        if self.display is None:
            return contextlib.nullcontext()
        return _Paused(self.display)

    def __exit__(self, *exc_info):
        if self.display is not None:
            self.display.stop()
        return False


class _Paused:
    def __init__(self, display):
        self.display = display

    def __enter__(self):
        self.display.stop()

    def __exit__(self, *exc_info):
        self.display.start()
        return False
