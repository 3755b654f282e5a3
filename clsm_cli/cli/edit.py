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

from clsm_cli.cli.console import (
    error_line, escape_markup, reports_errors, resume_garbage_collection, stderr_console, stdout_console, warn,
)
from clsm_cli.cli.edit_options import (  # the options the editing commands share
    FILES, BARS, NUM, SEED, TEMPERATURE, TOP_P, MODEL, TRACK, VOICE, OUT, FORCE, JSON, PREVIEW, WAV,
    SOUNDFONT, MUSICXML, ABC, COMBINED, DEVICE, PHASE, METER, ALSO_TRACK, JOBS, ENGINE, KEY, RANGE, KEEP_RHYTHM,
    MAX_LEAP, DENSITY, CHORDS, POOL, RANK,
)
from clsm_cli.cli.edit_help import INFILL_HELP, INTERPOLATE_HELP, VARY_HELP
from clsm_cli.errors import EXIT_OK

if TYPE_CHECKING:
    from clsm_cli.editing.options import EditOptions, FileResult
    from clsm_cli.sampling import Decoding

COMPACT_ROLLS_ABOVE = 4  # more outputs per file than this: compact piano rolls

def register(app: typer.Typer) -> None:
    app.command(name="infill", help=INFILL_HELP, no_args_is_help=True)(infill)
    app.command(name="interpolate", help=INTERPOLATE_HELP)(interpolate)
    app.command(name="vary", help=VARY_HELP, no_args_is_help=True)(vary)


# --- options shared by the three commands ----------------------------------------------------------



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
    musicxml: bool = MUSICXML,
    abc: bool = ABC,
    soundfont: Optional[Path] = SOUNDFONT,
    combined: bool = COMBINED,
    device: str = DEVICE,
    engine: str = ENGINE,
    meter: Optional[str] = METER,
    jobs: int = JOBS,
    also_track: Optional[str] = ALSO_TRACK,
    phase: Optional[int] = PHASE,
    key: Optional[str] = KEY,
    pitch_range: Optional[str] = RANGE,
    keep_rhythm: bool = KEEP_RHYTHM,
    max_leap: Optional[int] = MAX_LEAP,
    density: Optional[str] = DENSITY,
    chords: str = CHORDS,
    pool: Optional[int] = POOL,
    rank: str = RANK,
) -> None:
    values = _steering_values(key, pitch_range, keep_rhythm, max_leap, density, chords, pool, rank)
    _run("infill", files, bars, json_output, preview, engine, device, model, jobs,
         dict(meter=meter, also_track=also_track, phase=phase, num=num, seed=seed, temperature=temperature, top_p=top_p, track=track, voice=voice, out_dir=out, force=force,
              wav=wav, soundfont=soundfont, musicxml=musicxml, abc=abc, combined=combined, **values))


@reports_errors
def interpolate(
    files: Optional[List[Path]] = typer.Argument(None, help="MIDI files to edit (.mid). None: continue from the latest infill or vary outputs in --out.", show_default=False),
    bars: Optional[str] = typer.Option(None, "--bars", "-b", metavar="A-B", help="Bars to morph, e.g. 3-4. Default: the bars of the outputs it continues from.", show_default=False),
    steps: int = typer.Option(8, "--steps", "-j", min=1, help="Steps from one endpoint to the other (writes steps + 1 files)."),
    from_original: bool = typer.Option(False, "--from-original", help="Start from the existing bars of the song."),
    start: Optional[str] = typer.Option(None, "--start", metavar="FILE|K", help="Start at an earlier output: a file, or candidate K of the latest run. Default: candidate 1."),
    end: Optional[str] = typer.Option(None, "--end", metavar="FILE|K", help="End at an earlier output: a file, or candidate K of the latest run. Default: candidate 2."),
    song: Optional[str] = typer.Option(None, "--song", metavar="NAME", help="With no FILE: continue from the latest run of this song (a file name, stem or path), when --out holds runs of several songs.", show_default=False),
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
    musicxml: bool = MUSICXML,
    abc: bool = ABC,
    soundfont: Optional[Path] = SOUNDFONT,
    combined: bool = COMBINED,
    device: str = DEVICE,
    engine: str = ENGINE,
    meter: Optional[str] = METER,
    jobs: int = JOBS,
    also_track: Optional[str] = ALSO_TRACK,
    phase: Optional[int] = PHASE,
    key: Optional[str] = KEY,
    pitch_range: Optional[str] = RANGE,
    keep_rhythm: bool = KEEP_RHYTHM,
    max_leap: Optional[int] = MAX_LEAP,
    density: Optional[str] = DENSITY,
    chords: str = CHORDS,
    pool: Optional[int] = POOL,
) -> None:
    from clsm_cli.editing.runs import plan_interpolation

    values = _steering_values(key, pitch_range, keep_rhythm, max_leap, density, chords, pool, "fit")
    plan = plan_interpolation(files or [], bars, start, end, from_original, out, song)
    if plan.message:
        stderr_console().print(escape_markup(plan.message), style="dim", soft_wrap=True)
    songs = list(files) if files else [plan.song]
    _run("interpolate", songs, f"{plan.bars.first}-{plan.bars.last}", json_output, preview, engine, device, model, jobs,
         dict(meter=meter, also_track=also_track, phase=phase, steps=steps, from_original=from_original, start_file=plan.start_file, end_file=plan.end_file,
              seed=seed, temperature=temperature, top_p=top_p, track=track, voice=voice, out_dir=out, force=force, wav=wav,
              soundfont=soundfont, musicxml=musicxml, abc=abc, combined=combined, **values))


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
    musicxml: bool = MUSICXML,
    abc: bool = ABC,
    soundfont: Optional[Path] = SOUNDFONT,
    combined: bool = COMBINED,
    device: str = DEVICE,
    engine: str = ENGINE,
    meter: Optional[str] = METER,
    jobs: int = JOBS,
    also_track: Optional[str] = ALSO_TRACK,
    phase: Optional[int] = PHASE,
    key: Optional[str] = KEY,
    pitch_range: Optional[str] = RANGE,
    keep_rhythm: bool = KEEP_RHYTHM,
    max_leap: Optional[int] = MAX_LEAP,
    density: Optional[str] = DENSITY,
    chords: str = CHORDS,
    pool: Optional[int] = POOL,
    rank: str = RANK,
) -> None:
    values = _steering_values(key, pitch_range, keep_rhythm, max_leap, density, chords, pool, rank)
    _run("vary", files, bars, json_output, preview, engine, device, model, jobs,
         dict(meter=meter, also_track=also_track, phase=phase, amount=amount, around_file=around, num=num, seed=seed, temperature=temperature, top_p=top_p,
              track=track, voice=voice, out_dir=out, force=force, wav=wav, soundfont=soundfont, musicxml=musicxml, abc=abc,
              combined=combined, **values))


# --- the shared run ------------------------------------------------------------------------------


def _steering_values(key: Optional[str], pitch_range: Optional[str], keep_rhythm: bool, max_leap: Optional[int],
                     density: Optional[str], chords: str, pool: Optional[int], rank: str) -> dict:
    """The steering options as EditOptions fields (parse errors are usage errors, exit 2)."""
    from clsm_cli.editing.controls import ControlRequest, parse_density, parse_range
    from clsm_cli.errors import UsageError

    if rank not in ("fit", "none"):
        raise UsageError(f"--rank must be fit or none, got {rank!r}")
    if chords not in ("follow", "ignore"):
        raise UsageError(f"--chords must be follow or ignore, got {chords!r}")
    key = "auto" if key is not None and key.strip().lower() == "auto" else key
    request = ControlRequest(key, parse_range(pitch_range), keep_rhythm, max_leap, parse_density(density),
                             follow_chords=chords == "follow")
    return dict(controls=request, pool=pool, rank=rank == "fit")


def _run(verb: str, files: Sequence[Path], bars: str, json_output: bool, preview: Optional[bool], engine: str,
         device: str, model: Optional[str], jobs: int, values: dict) -> None:
    from clsm_cli.editing.inputs import check_readable, distinct_inputs, output_stems
    from clsm_cli.editing.model_choice import EditModels, refused_result
    from clsm_cli.editing.options import EditOptions, check_options, draw_seed
    from clsm_cli.editing.verbs import edit_file
    from clsm_cli.errors import ClsmError
    from clsm_cli.music.bars import BarRange
    from clsm_cli.music.meter import Meter

    resume_garbage_collection()  # the editing modules are in
    bar_range = BarRange.parse(bars)  # usage errors before any file or model is touched
    seed = values.pop("seed")
    meter = values.pop("meter")
    options = EditOptions(verb=verb, bars=bar_range, seed=draw_seed() if seed is None else seed, model_arg=model,
                          meter=Meter.parse(meter) if meter is not None else None, **values)
    check_options(options)
    if options.wav:
        from clsm_cli.music.audio import choose_renderer

        notice = choose_renderer(options.soundfont).notice
        if notice:
            warn(notice)
    # A missing or unreadable input (--start, --end and --around files included) is refused before
    # the model is loaded.
    check_readable([*files, *(path for path in (options.start_file, options.end_file, options.around_file) if path)])
    # ... and so is an earlier output whose provenance is damaged (a wrong type, a latent that is not finite).
    for role, endpoint in (("--start", options.start_file), ("--end", options.end_file), ("--around", options.around_file)):
        if endpoint is not None:
            from clsm_cli.editing.runs import endpoint_records

            endpoint_records(Path(endpoint), role)
    files, repeated = distinct_inputs(files)
    for path in repeated:
        warn(f"{path} is given more than once; it is edited once")
    stems = output_stems(files)

    messages = stderr_console()
    spinner = messages.is_terminal and messages.color_system is not None  # NO_COLOR: no cursor codes

    def loading():
        return messages.status("loading the model…", spinner="dots") if spinner else contextlib.nullcontext()

    announced: set[str] = set()

    def announce(edit_model, decoding) -> None:
        if edit_model.name in announced:  # workers of --jobs each load the models they need
            return
        announced.add(edit_model.name)
        messages.print(f"model {escape_markup(edit_model.name)} ({edit_model.device}), seed {options.seed}, "
                       f"{_decoding_text(decoding)}", style="dim", soft_wrap=True)

    # --model loads now (a broken model fails before any file); otherwise each file's meter chooses.
    models = EditModels(model, engine, device, options.temperature, options.top_p, loading, announce)

    show_previews = _wants_previews(preview, json_output)
    results: list[FileResult] = []
    with _Progress(messages, len(files)) as progress:
        if jobs > 1 and len(files) > 1:
            from clsm_cli.editing.jobs import edit_in_processes

            workers = min(jobs, len(files))
            progress.begin(f"{len(files)} files in {workers} processes")
            for result, loaded in edit_in_processes(files, stems, options, model, engine, device, workers):
                progress.end()
                results.append(result)
                with progress.paused():
                    for note in loaded:
                        announce(note, note.decoding)
                    _report(result, messages, json_output, show_previews)
        else:
            for path, stem in zip(files, stems):
                with progress.paused():  # choosing may load a model, with its own spinner
                    try:
                        edit_model, decoding = models.for_file(Path(path), options)
                        refused = None
                    except ClsmError as error:
                        refused = refused_result(Path(path), options, error, models.forced)
                progress.begin(Path(path).name)
                result = refused or edit_file(Path(path), options, edit_model, decoding, output_stem=stem)
                models.annotate(result)  # the model choice's figures (--json) and the --meter 4/4 hint
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
    for name, _ in result.outputs[0].notation:
        text += " + " + {"musicxml": "MusicXML", "abc": "ABC"}[name]
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
