"""One input file through ``infill``, ``interpolate`` or ``vary``: prepare, generate, splice, write.

Targets longer than 4 bars (infill only) are filled in chunks of at most 4 bars, left to right.
An earlier chunk sees only what comes before it: its window is placed so that the chunk ends the
window (bars before the song start are rests). The last chunk sees both sides in a centred window.
Generated chunks are part of the context of the later ones.

Each output is written with the surgical writer as ``<stem>.<verb>-bars<A>-<B>-s<seed>-<k>.mid``
with a provenance text event. Nothing here prints: :func:`edit_file` returns a
:class:`FileResult` with outputs and warnings, or with the ``ClsmError`` that stopped that file.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from clsm_cli.constants import MAX_TARGET_BARS
from clsm_cli.editing import generate
from clsm_cli.editing.generate import Candidate
from clsm_cli.editing.options import (
    EditOptions,
    FileResult,
    Latent,
    OutputFile,
    RollView,
    output_path,
    reproduce_command,
)
from clsm_cli.editing.outputs import OutputSet, check_targets, make_out_dir
from clsm_cli.editing.prepare import (
    PreparedSong,
    check_model_meters,
    chords_in_target_warning,
    open_song,
    prepare_song,
)
from clsm_cli.editing.provenance import (
    next_generation,
    parse_provenance,
    provenance_record,
    provenance_text,
    stored_latent,
)
from clsm_cli.editing.splice import notes_for_writer, splice, target_notes
from clsm_cli.editing.window import (
    ModelWindow,
    centred_window,
    left_context_window,
    short_song_warning,
)
from clsm_cli.engine.load import LoadedEngine
from clsm_cli.engine.sampling import Decoding
from clsm_cli.errors import ClsmError, InputFileError
from clsm_cli.music import audio, midi_read, midi_write
from clsm_cli.music.bars import BarRange, bar_at_step
from clsm_cli.music.tokens import TOKEN_DTYPE, StepNote


@dataclass(frozen=True)
class _Version:
    """One candidate before writing: its new target notes, latents and tokens."""

    line: tuple[StepNote, ...]  # the whole spliced line (for later chunks and the writer)
    latents: tuple[Latent, ...]
    tokens: np.ndarray


def edit_file(path: Path, options: EditOptions, edit_model: LoadedEngine, decoding: Decoding) -> FileResult:
    """Run ``options.verb`` on one file; a ClsmError becomes the result's ``error`` (nothing raised).

    ``decoding`` is the command's decoding, resolved against the model once (``options.command_decoding``).
    """
    result = FileResult(
        input=Path(path), verb=options.verb, seed=options.seed, model=edit_model.name,
        model_sha256=edit_model.sha256, bars=options.bars, decoding=decoding,
        reproduce=reproduce_command(options, Path(path)),
    )
    try:
        _run_edit(result, options, edit_model, decoding)
    except ClsmError as error:
        result.error = error
    return result


def prepare_for_model(path: Path, options: EditOptions, edit_model: LoadedEngine) -> PreparedSong:
    """Read the song (its bars in ``--meter`` when given), check the model knows the target's meter
    (a warning for odd bars it keeps its window off), and prepare its melody."""
    opened = open_song(path, options.bars, options.meter)
    odd_bars = check_model_meters(opened.bars, options.bars, opened.path.name, edit_model.name, edit_model.config)
    prepared = prepare_song(opened, options.bars, options.track)
    return prepared if odd_bars is None else replace(prepared, warnings=prepared.warnings + (odd_bars,))


def _run_edit(result: FileResult, options: EditOptions, edit_model: LoadedEngine, decoding: Decoding) -> None:
    prepared = prepare_for_model(result.input, options, edit_model)
    result.track = prepared.track_label
    result.warnings.extend(prepared.warnings)
    result.add_warning(chords_in_target_warning(prepared, options.bars))
    start, end = prepared.target_steps(options.bars)

    # Refuse the whole output set before the model runs, so a refused file costs nothing.
    count = options.steps + 1 if options.verb == "interpolate" else options.num
    paths = [output_path(options.out_dir, prepared.path, options.verb, options.bars, options.seed, k)
             for k in range(1, count + 1)]
    combined_path = (output_path(options.out_dir, prepared.path, options.verb, options.bars, options.seed, "all")
                     if options.combined else None)
    wav_paths = [path.with_suffix(".wav") for path in paths] if options.wav else []
    make_out_dir(options.out_dir)
    check_targets(paths + wav_paths + ([combined_path] if combined_path else []), prepared.path, options.force)

    if options.verb == "infill":
        versions = _infill_versions(prepared, options, edit_model, decoding, result)
    elif options.verb == "interpolate":
        versions = _interpolate_versions(prepared, options, edit_model, decoding, result)
    else:
        versions = _vary_versions(prepared, options, edit_model, decoding, result)

    generation = next_generation(parse_provenance(prepared.song.text_events))
    bars = list(prepared.bars)
    with OutputSet() as written:
        for k, (version, path) in enumerate(zip(versions, paths), start=1):
            record = provenance_record(result, k, version.latents, generation, options)
            new_notes = notes_for_writer(version.line, start, end)
            written.write(path, lambda: midi_write.write_edited_song(
                prepared.song, prepared.track, bars, options.bars, new_notes, path, provenance_text(record),
                force=options.force,
            ))
            wav, renderer = None, None
            if options.wav:
                wav = path.with_suffix(".wav")
                renderer = written.write(wav, lambda: audio.render_wav(path, wav, force=options.force))
            result.outputs.append(OutputFile(path, k, version.latents, version.tokens, tuple(new_notes), wav, renderer))
            result.previews.append(_roll_view(prepared, version, path.name, options))
        if combined_path is not None:
            written.write(combined_path, lambda: _write_combined(
                prepared, options, versions, combined_path, result, generation))
            result.combined = combined_path


def _infill_versions(prepared: PreparedSong, options: EditOptions, edit_model: LoadedEngine, decoding: Decoding,
                     result: FileResult) -> list[_Version]:
    config = edit_model.config
    chunks = options.bars.chunks(MAX_TARGET_BARS)
    if len(chunks) > 1:
        result.warnings.append(
            f"{options.bars} are more than {MAX_TARGET_BARS} bars: filled in {len(chunks)} chunks, left to right ("
            + ", ".join(str(chunk) for chunk in chunks) + ")"
        )
    # The first chunk has the same window for every candidate: one batch.
    first_window = _chunk_window(prepared, prepared.line, chunks, 0, config)
    _note_window(result, prepared, first_window, config)
    engine, seed = edit_model.engine, options.seed
    first = generate.infill(engine, first_window.tokens, first_window.target, decoding, seed,
                            generate.candidate_numbers(options.num))
    versions = [_apply(prepared, prepared.line, first_window, candidate, chunks[0]) for candidate in first]
    # Later chunks follow each candidate's own generated bars, so each is decoded on its own, with
    # the draws of its candidate number and chunk.
    for index in range(1, len(chunks)):
        for position, version in enumerate(versions):
            window = _chunk_window(prepared, version.line, chunks, index, config)
            (candidate,) = generate.infill(engine, window.tokens, window.target, decoding, seed, (position + 1,),
                                           chunk=index)
            versions[position] = _apply(prepared, version.line, window, candidate, chunks[index], version)
    return versions


def _interpolate_versions(prepared: PreparedSong, options: EditOptions, edit_model: LoadedEngine, decoding: Decoding,
                          result: FileResult) -> list[_Version]:
    window = centred_window(prepared, prepared.line, options.bars, edit_model.config)
    _note_window(result, prepared, window, edit_model.config)
    engine = edit_model.engine
    prior_start, prior_end = generate.prior_endpoints(engine, window.tokens, window.target, options.seed)
    if options.from_original:
        start_w = generate.encode_w(engine, window.tokens, window.target)
    elif options.start_file is not None:
        start_w, note = latent_from_file(options.start_file, options, edit_model, "--start")
        result.add_warning(note)
    else:
        start_w = prior_start
    if options.end_file is not None:
        end_w, note = latent_from_file(options.end_file, options, edit_model, "--end")
        result.add_warning(note)
    else:
        end_w = prior_end
    candidates = generate.interpolate(engine, window.tokens, window.target, decoding, options.seed,
                                      options.steps, start_w, end_w)
    return [_apply(prepared, prepared.line, window, candidate, options.bars) for candidate in candidates]


def _vary_versions(prepared: PreparedSong, options: EditOptions, edit_model: LoadedEngine, decoding: Decoding,
                   result: FileResult) -> list[_Version]:
    window = centred_window(prepared, prepared.line, options.bars, edit_model.config)
    _note_window(result, prepared, window, edit_model.config)
    around_w = None
    if options.around_file is not None:
        around_w, note = latent_from_file(options.around_file, options, edit_model, "--around")
        result.add_warning(note)
    candidates = generate.vary(edit_model.engine, window.tokens, window.target, decoding, options.seed,
                               generate.candidate_numbers(options.num), options.amount, around_w)
    return [_apply(prepared, prepared.line, window, candidate, options.bars) for candidate in candidates]


def latent_from_file(
    path: Path, options: EditOptions, edit_model: LoadedEngine, role: str
) -> tuple[np.ndarray, Optional[str]]:
    """The w of the target bars of an earlier output (reused exactly) or of any other file (encoded).

    Returns the latent and a note for the user when it had to be encoded.
    """
    path = Path(path)
    try:
        records = parse_provenance(midi_read.read_text_events(path))
    except ClsmError as error:
        raise InputFileError(f"{role} file: {error.message}") from None
    w = stored_latent(records, options.bars, edit_model.name, edit_model.sha256, edit_model.config.z_dim)
    if w is not None:
        return w, None
    prepared = prepare_for_model(path, options, edit_model)
    window = centred_window(prepared, prepared.line, options.bars, edit_model.config)
    why = "is not an output of" if not records else "was not made for these bars by"
    note = f"{role} file {path.name} {why} model {edit_model.name}; its {options.bars} were encoded instead"
    return generate.encode_w(edit_model.engine, window.tokens, window.target), note


def _apply(prepared: PreparedSong, line: Sequence[StepNote], window: ModelWindow, candidate: Candidate,
           chunk: BarRange, previous: Optional[_Version] = None) -> _Version:
    start, end = prepared.target_steps(chunk)
    new_line = splice(line, start, end, target_notes(candidate.tokens, window, line))
    latents = (previous.latents if previous else ()) + (Latent(chunk, candidate.w),)
    tokens = candidate.tokens if previous is None else np.concatenate([previous.tokens, candidate.tokens])
    return _Version(tuple(new_line), latents, tokens.astype(TOKEN_DTYPE))


def _chunk_window(prepared: PreparedSong, line: Sequence[StepNote], chunks: Sequence[BarRange], index: int,
                  config) -> ModelWindow:
    if index == len(chunks) - 1:
        return centred_window(prepared, line, chunks[index], config)
    return left_context_window(prepared, line, chunks[index], config)


def _note_window(result: FileResult, prepared: PreparedSong, window: ModelWindow, config) -> None:
    result.octave_shift = window.octave_shift
    result.add_warning(short_song_warning(prepared, window, config))


def _roll_view(prepared: PreparedSong, version: _Version, title: str, options: EditOptions) -> RollView:
    """Preview of an output: the file's notes (chords kept) with the target spliced in."""
    start, end = prepared.target_steps(options.bars)
    notes = splice(prepared.all_notes, start, end, notes_for_writer(version.line, start, end))
    shown = _shown_bars(prepared, options)
    rows = tuple((bar.number, bar.first_step, bar.steps) for bar in prepared.bars[shown.first - 1 : shown.last])
    return RollView(title, tuple(notes), rows, frozenset(options.bars.numbers))


def _shown_bars(prepared: PreparedSong, options: EditOptions) -> BarRange:
    """Bars a preview shows: the target and up to two bars of context on each side."""
    return BarRange(max(1, options.bars.first - 2), min(len(prepared.bars), options.bars.last + 2))


def _write_combined(prepared: PreparedSong, options: EditOptions, versions: Sequence[_Version], path: Path,
                    result: FileResult, generation: int) -> None:
    start, end = prepared.target_steps(options.bars)
    record = provenance_record(result, 0, (), generation, options)
    record["outputs"] = len(versions)
    if options.verb == "interpolate":
        # Each version as a whole window (context and target), one after another.
        shown = _shown_bars(prepared, options)
        shown_start, shown_end = shown.step_span(prepared.bars)
        melodies = []
        for version in versions:
            notes = splice(prepared.all_notes, start, end, notes_for_writer(version.line, start, end))
            melodies.append([
                StepNote(max(note.start_step, shown_start) - shown_start, min(note.end_step, shown_end) - shown_start,
                         note.pitch)
                for note in notes if note.start_step < shown_end and note.end_step > shown_start
            ])
        first = prepared.bars[shown.first - 1]
        midi_write.write_sequence_file(
            melodies, first.steps, prepared.song.ticks_per_beat, _tempo_at(prepared, start),
            (first.numerator, first.denominator), prepared.track.program, path,
            provenance_text(record), options.force, channel=prepared.track.channel,
        )
    else:
        midi_write.write_candidates_file(
            prepared.song, prepared.track, list(prepared.bars), options.bars,
            [list(notes_for_writer(version.line, start, end)) for version in versions], path,
            provenance_text(record), options.force,
        )


def _tempo_at(prepared: PreparedSong, step: int) -> int:
    """The tempo (microseconds per quarter) in force at the target's first bar."""
    tick = bar_at_step(prepared.bars, step).start_tick
    tempo = 500_000
    for tempo_tick, value in sorted(prepared.song.tempos):
        if tempo_tick <= tick:
            tempo = value
    return tempo
