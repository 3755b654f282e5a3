"""One input file through ``infill``, ``interpolate`` or ``vary``: prepare, generate, splice, write.

Targets longer than 4 bars (infill only) are filled in chunks of at most 4 bars, left to right.
Every chunk sees the bars on both sides of it that exist, in a window centred on it: the bars before
it as already generated (for that candidate), the bars after it as in the song.

Infill and vary draw a pool (``editing/draw.py``) under the controls (``editing/steering.py``): a
member that is all rests, the original bars or a copy of an earlier member is drawn again, up to
``MAX_DRAWS`` draws (each recorded in ``FileResult.redraws``), and dropped if it stays so; the rest
are ranked by the fit score and the best ``-n`` written, best first. A file with no acceptable
member is an InputFileError (exit 3).

Each output is written with the surgical writer as ``<stem>.<verb>-bars<A>-<B>-s<seed>-<k>.mid``
(``options.output_path``) with a provenance text event. Nothing here prints: :func:`edit_file` returns a
:class:`FileResult` with outputs and warnings, or with the ``ClsmError`` that stopped that file.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from clsm_cli.constants import MAX_TARGET_BARS
from clsm_cli.editing import generate
from clsm_cli.editing.endpoints import (
    Endpoint,
    edited_by_hand,
    same_outside,
    target_note_rows,
    target_tokens_in_frame,
    target_voice_notes,
    with_target_of,
)
from clsm_cli.editing.generate import Candidate
from clsm_cli.editing.pools import Draft, ranked, warn_broken
from clsm_cli.editing.ranking import Score
from clsm_cli.editing.silent import ContextLine, context_line, with_new_notes
from clsm_cli.editing.steering import Steering, achieved_by, line_rules, resolve_steering
from clsm_cli.editing.options import (
    EditOptions,
    FileResult,
    Latent,
    OutputFile,
    RollView,
    output_path,
    reproduce_command,
)
from clsm_cli.editing.formats import OutputJob, chosen_formats, output_paths, write_formats
from clsm_cli.editing.inputs import file_sha256
from clsm_cli.editing.outputs import OutputSet, check_targets, make_out_dir
from clsm_cli.editing.prepare import (
    PreparedSong,
    check_model_meters,
    OpenedSong,
    open_song,
    prepare_song,
    target_warnings,
)
from clsm_cli.editing.provenance import (
    next_generation,
    provenance_record,
    provenance_text,
    read_provenance,
    recorded_target_notes,
    stored_latent,
)
from clsm_cli.editing.splice import edited_track_notes, notes_for_writer, splice, target_notes, target_triplet_steps
from clsm_cli.editing.window import (
    ModelWindow,
    centred_window,
    short_song_warning,
    chunk_triplet_steps,
    song_triplet_steps,
    target_tokens_of,
)
from clsm_cli.engine.load import LoadedEngine
from clsm_cli.sampling import Decoding
from clsm_cli.errors import ClsmError, InputFileError
from clsm_cli.music import midi_write
from clsm_cli.music.bars import BarRange
from clsm_cli.music.track_choice import requested_doubling, track_list
from clsm_cli.music.tokens import TOKEN_DTYPE, StepNote


@dataclass(frozen=True)
class _Version:
    """One candidate before writing: its new target notes, latents and tokens."""

    line: tuple[StepNote, ...]  # the whole spliced line (for later chunks and the writer)
    latents: tuple[Latent, ...]
    tokens: np.ndarray
    draw_index: int = 0  # the pool member (0: exact bars, not drawn)
    score: Optional[Score] = None
    candidate: Optional[Candidate] = None  # the last chunk's candidate (an interpolation endpoint's)
    copies: tuple = ()  # another file's target notes to write exactly (an interpolation's end)
    triplet_steps: frozenset = frozenset()  # target quarters (song steps) written as triplets (triplet grid)


def edit_file(path: Path, options: EditOptions, edit_model: LoadedEngine, decoding: Decoding,
              output_stem: Optional[str] = None) -> FileResult:
    """Run ``options.verb`` on one file; a ClsmError becomes the result's ``error`` (nothing raised).

    ``decoding`` is the command's decoding, resolved against the model once (``options.command_decoding``).
    ``output_stem`` names the outputs (default: the input's stem; a batch passes ``inputs.output_stems``).
    """
    result = FileResult(
        input=Path(path), verb=options.verb, seed=options.seed, model=edit_model.name,
        model_sha256=edit_model.sha256, bars=options.bars, decoding=decoding,
        reproduce=reproduce_command(options, Path(path)), output_stem=output_stem or Path(path).stem,
        grid=edit_model.config.grid_encoding, steps_per_bar=edit_model.config.steps_per_bar,
    )
    try:
        _run_edit(result, options, edit_model, decoding)
    except ClsmError as error:
        result.error = error
    return result


def prepare_for_model(path: Path, options: EditOptions, edit_model: LoadedEngine,
                      opened: Optional[OpenedSong] = None) -> PreparedSong:
    """Read the song (its bars in ``--meter`` when given) unless ``opened`` is it, check the model
    knows the target's meter (a warning for odd bars it keeps its window off), and prepare its melody."""
    opened = opened if opened is not None else open_song(path, options.bars, options.meter, options.phase)
    odd_bars = check_model_meters(opened.bars, options.bars, opened.path.name, edit_model.name, edit_model.config)
    prepared = prepare_song(opened, options.bars, options.track, edit_model.config.grid.has_triplets)
    if not prepared.choice.looks_like_melody:  # an accompaniment-only arrangement: which part is the user's call
        raise InputFileError(f"{opened.path.name}: {prepared.choice.reason} (its tracks are "
                             f"{track_list(prepared.song)})")
    return prepared if odd_bars is None else replace(prepared, warnings=prepared.warnings + (odd_bars,))


def _run_edit(result: FileResult, options: EditOptions, edit_model: LoadedEngine, decoding: Decoding) -> None:
    prepared = prepare_for_model(result.input, options, edit_model)
    result.track = prepared.track_label
    result.warnings.extend(prepared.warnings)
    for warning in target_warnings(prepared, options.bars, options.voice):
        result.add_warning(warning)
    start, end = prepared.target_steps(options.bars)

    # Refuse the whole output set before the model runs, so a refused file costs nothing.
    count = options.steps + 1 if options.verb == "interpolate" else options.num
    paths = [output_path(options, result.output_stem, k) for k in range(1, count + 1)]
    combined_path = output_path(options, result.output_stem, "all") if options.combined else None
    formats = chosen_formats(wav=options.wav, musicxml=options.musicxml, abc=options.abc)
    beside = [file for path in paths for name, file in output_paths(formats, path).items() if name != "midi"]
    if options.abc and prepared.dropped_notes:
        result.add_warning(f"track {prepared.track_label} plays chords: the ABC files hold its top line "
                           "(--musicxml keeps every note)")
    also = _also_edited(prepared, options, result)
    make_out_dir(options.out_dir)
    check_targets(paths + beside + ([combined_path] if combined_path else []), prepared.path, options.force)

    context = context_line(prepared, options.bars, edit_model.config) if options.verb == "infill" else None
    result.steering = resolve_steering(prepared, options.bars, options.controls, edit_model.config, options.voice,
                                       include_target=options.verb == "vary",
                                       context=None if context is None else context.line)
    if result.steering.silent_target and options.verb == "infill":
        result.add_warning(f"the melody track is silent in {options.bars}: writing a new melody there "
                           "(at least one note per bar)")
    if options.verb == "infill":
        result.add_warning(context.note)
        versions = _infill_pool(prepared, options, edit_model, decoding, result, result.steering, options.num, context)
    elif options.verb == "interpolate":
        versions = _interpolate_versions(prepared, options, edit_model, decoding, result)
    else:
        versions = _vary_versions(prepared, options, edit_model, decoding, result)

    provenance = read_provenance(prepared.song.text_events)
    if provenance.damaged:  # read as a plain MIDI file: its records say nothing this edit can trust
        result.add_warning(f"{provenance.describe_damage(prepared.path.name)}; it is read as a plain MIDI file")
    generation = next_generation(() if provenance.damaged else provenance.records)
    input_sha256 = file_sha256(prepared.path)
    bars = list(prepared.bars)
    # Every file goes to a temporary first; the set is renamed into place only when all are written.
    outputs, previews = [], []
    with OutputSet(options.force) as written:
        for k, (version, path) in enumerate(zip(versions, paths), start=1):
            record = provenance_record(result, k, version.latents, generation, options,
                                       target_note_rows(version.line, start, end), input_sha256)
            record["draw_index"] = version.draw_index  # the pool member: its random numbers (0: exact bars)
            new_notes = notes_for_writer(version.line, start, end)
            job = OutputJob(
                path,
                lambda out, new_notes=new_notes, record=record, version=version: midi_write.write_edited_song(
                    prepared.song, prepared.track, bars, options.bars, new_notes, out, provenance_text(record),
                    voice=options.voice, also=also(new_notes) if also else (), copies=version.copies,
                    triplet_steps=version.triplet_steps),
                prepared.track.chunk, prepared.track.channel, options.bars, options.meter, options.force,
                options.soundfont, bars[0].start_tick,
            )
            files = write_formats(formats, job, written)
            wav, renderer = files.get("wav", (None, None))
            notation = tuple((name, files[name][0]) for name in ("musicxml", "abc") if name in files)
            achieved = achieved_by(new_notes, result.steering, prepared, options.bars)
            outputs.append(OutputFile(path, k, version.latents, version.tokens, tuple(new_notes), wav, renderer,
                                      notation, version.draw_index, version.score, achieved))
            previews.append(_roll_view(prepared, version, path.name, options))
        if combined_path is not None:
            written.add_written(combined_path, lambda temporary: _write_combined(
                prepared, options, versions, temporary, result, generation))
    result.outputs.extend(outputs)
    result.previews.extend(previews)
    result.combined = combined_path


def _also_edited(prepared: PreparedSong, options: EditOptions, result: FileResult):
    """``--also-track``: a function from the melody's new notes to the doubling track's edit (the same
    notes, its octaves apart, its whole bars later), or None without the option."""
    if options.also_track is None:
        return None
    doubling = requested_doubling(prepared.song, prepared.track, options.also_track, prepared.bars)
    target = BarRange(options.bars.first + doubling.bar_shift, options.bars.last + doubling.bar_shift)
    if target.first < 1 or target.last > len(prepared.bars):
        raise InputFileError(f"--also-track {options.also_track}: the bars it doubles ({target}) are outside "
                             f"{prepared.path.name} ({len(prepared.bars)} bars)")
    shift = prepared.bars[target.first - 1].first_step - prepared.bars[options.bars.first - 1].first_step
    result.warnings = [warning for warning in result.warnings if not warning.startswith(doubling.describe())]
    result.add_warning(f"{doubling.describe()}: edited the same way in {target} (--also-track)")

    def edit(new_notes):
        return [midi_write.TrackEdit(doubling.track, target, [
            StepNote(note.start_step + shift, note.end_step + shift,
                     None if note.pitch is None else note.pitch + 12 * doubling.octaves, note.tied_from_before)
            for note in new_notes])]

    return edit


def _infill_pool(prepared: PreparedSong, options: EditOptions, edit_model: LoadedEngine, decoding: Decoding,
                 result: FileResult, steering: Steering, count: int,
                 context: Optional[ContextLine] = None) -> list[_Version]:
    """The best ``count`` of a pool of whole infills (every chunk), best first (``draw.draw_pool``).

    Later chunks see each member's own generated bars before them (and the song's after them), so
    each is decoded on its own, with the draws of its index and chunk. ``context`` is what the
    model hears outside the target when the melody is silent there (``editing/silent.py``).
    """
    config, engine, seed = edit_model.config, edit_model.engine, options.seed
    borrowed = context is not None and context.note is not None
    heard = context.line if borrowed else prepared.line
    whole_start, whole_end = prepared.target_steps(options.bars)

    def seen(line: Sequence[StepNote]) -> Sequence[StepNote]:
        return with_new_notes(heard, line, whole_start, whole_end) if borrowed else line

    chunks = options.bars.chunks(MAX_TARGET_BARS)
    if len(chunks) > 1:
        result.add_warning(
            f"{options.bars} are more than {MAX_TARGET_BARS} bars: filled in {len(chunks)} chunks, left to right ("
            + ", ".join(str(chunk) for chunk in chunks) + ")"
        )
    first_window = centred_window(prepared, heard, chunks[0], config)
    _note_window(result, prepared, first_window, config)
    first_rules = line_rules(steering, prepared, first_window, chunks[0], heard,
                             target_tokens_of(prepared.line, first_window), config.num_music_tokens)

    def draw(indices: Sequence[int], attempt: int) -> list[Draft]:
        firsts = generate.infill(engine, first_window.tokens, first_window.target, decoding, seed, indices,
                                 attempt=attempt, rules=first_rules)
        drafts = []
        for k, candidate in zip(indices, firsts):
            version = _apply(prepared, prepared.line, first_window, candidate, chunks[0], index=k)
            made = [candidate]
            for index in range(1, len(chunks)):
                triplets = chunk_triplet_steps(prepared, config, BarRange(chunks[0].first, chunks[index - 1].last),
                                               version.triplet_steps)
                window = centred_window(prepared, seen(version.line), chunks[index], config, triplets)
                rules = line_rules(steering, prepared, window, chunks[index], seen(version.line),
                                   target_tokens_of(prepared.line, window), config.num_music_tokens)
                (candidate,) = generate.infill(engine, window.tokens, window.target, decoding, seed, (k,),
                                               chunk=index, attempt=attempt, rules=rules)
                version = _apply(prepared, version.line, window, candidate, chunks[index], version, index=k)
                made.append(candidate)
            drafts.append(Draft(version, tuple(made)))
        return drafts

    return ranked(prepared, options, edit_model, result, steering, draw, (), count, heard)


def _interpolate_versions(prepared: PreparedSong, options: EditOptions, edit_model: LoadedEngine, decoding: Decoding,
                          result: FileResult) -> list[_Version]:
    """steps + 1 versions from the start to the end: the ends hold the chosen bars note for note."""
    window = centred_window(prepared, prepared.line, options.bars, edit_model.config)
    _note_window(result, prepared, window, edit_model.config)
    engine = edit_model.engine
    steering = result.steering
    rules = line_rules(steering, prepared, window, options.bars, prepared.line, target_tokens_of(prepared.line, window),
                       edit_model.config.num_music_tokens)
    prior = None
    if options.end_file is None or (options.start_file is None and not options.from_original):
        # The best two of the pool an infill with this seed draws: an interpolation after
        # `clsm infill -n 2` with the same seed ends on those two infills.
        best = _infill_pool(prepared, options, edit_model, decoding, result, steering, 2)
        if len(best) < 2:
            raise InputFileError(f"only one acceptable prior endpoint was drawn for {options.bars} of "
                                 f"{prepared.path.name}; try another --seed")
        prior = [Endpoint(version.line, version.candidate, triplet_steps=version.triplet_steps) for version in best]
    if options.from_original:
        start = _original_endpoint(prepared, window, edit_model)
    elif options.start_file is not None:
        start = _file_endpoint(options.start_file, prepared, window, options, edit_model, "--start", result)
    else:
        start = prior[0]
    if options.end_file is not None:
        end = _file_endpoint(options.end_file, prepared, window, options, edit_model, "--end", result)
    else:
        end = prior[1]
    for endpoint, role in ((start, "first"), (end, "last")):
        if not any(endpoint is drawn for drawn in (prior or ())):
            warn_broken(result, prepared, options, endpoint.line, f"the {role} endpoint")
    candidates = generate.interpolate(engine, window.tokens, window.target, decoding, options.seed,
                                      options.steps, start.candidate, end.candidate, rules)
    versions = [_apply(prepared, prepared.line, window, candidate, options.bars) for candidate in candidates]
    # The ends are the chosen bars themselves (the decoding reproduces their tokens; this keeps
    # what tokens cannot say, such as pitches folded for the model).
    versions[0], versions[-1] = (_endpoint_version(endpoint, options.bars) for endpoint in (start, end))
    return versions


def _vary_versions(prepared: PreparedSong, options: EditOptions, edit_model: LoadedEngine, decoding: Decoding,
                   result: FileResult) -> list[_Version]:
    """Variations around the existing bars (or --around's); amount 0 writes the centre's bars themselves."""
    window = centred_window(prepared, prepared.line, options.bars, edit_model.config)
    _note_window(result, prepared, window, edit_model.config)
    if options.around_file is not None:
        centre = _file_endpoint(options.around_file, prepared, window, options, edit_model, "--around", result)
    else:
        centre = _original_endpoint(prepared, window, edit_model)
    if options.amount == 0:
        return [_endpoint_version(centre, options.bars) for _ in range(options.num)]
    steering = result.steering
    rules = line_rules(steering, prepared, window, options.bars, prepared.line, target_tokens_of(prepared.line, window),
                       edit_model.config.num_music_tokens)

    def draw(indices: Sequence[int], attempt: int) -> list[Draft]:
        candidates = generate.vary(edit_model.engine, window.tokens, window.target, decoding, options.seed,
                                   indices, options.amount, centre.candidate, rules, attempt)
        return [Draft(_apply(prepared, prepared.line, window, candidate, options.bars, index=k), (candidate,))
                for k, candidate in zip(indices, candidates)]

    start, end = prepared.target_steps(options.bars)
    return ranked(prepared, options, edit_model, result, steering, draw,
                   [notes_for_writer(centre.line, start, end)], options.num)


def _original_endpoint(prepared: PreparedSong, window: ModelWindow, edit_model: LoadedEngine) -> Endpoint:
    """The existing bars, with their posterior latent ``f(posterior mean)``."""
    tokens = window.tokens[window.target.start : window.target.end].copy()
    w = generate.encode_w(edit_model.engine, window.tokens, window.target)
    return Endpoint(prepared.line, Candidate(tokens, w), triplet_steps=target_triplet_steps(tokens, window))


def _endpoint_version(endpoint: Endpoint, bars: BarRange) -> _Version:
    candidate = endpoint.candidate
    return _Version(endpoint.line, (Latent(bars, candidate.w),), candidate.tokens.astype(TOKEN_DTYPE),
                    candidate=candidate, copies=endpoint.copies, triplet_steps=endpoint.triplet_steps)


def _file_endpoint(path: Path, prepared: PreparedSong, window: ModelWindow, options: EditOptions,
                   edit_model: LoadedEngine, role: str, result: FileResult) -> Endpoint:
    """The target bars of another file, spliced into this song, with their latent (stored or encoded).

    When this song is the ``--start`` file itself (no original given), the file must agree with it
    outside the target: InputFileError otherwise.
    """
    from clsm_cli.editing.runs import endpoint_records  # only interpolate and vary read earlier outputs

    path = Path(path)
    same = _same_file(path, prepared.path)  # the song itself (--start A of A): it was read already
    if same:
        other, records = prepared, endpoint_records(path, role, prepared.song.text_events)
    else:  # read once: its provenance and its notes
        try:
            opened = open_song(path, None, options.meter, options.phase)
        except ClsmError as error:
            raise InputFileError(f"{role} file: {error.message}") from None
        options.bars.check_inside(opened.bars, path.name)
        records = endpoint_records(path, role, opened.song.text_events)
        other = prepare_for_model(path, options, edit_model, opened)
    start, end = prepared.target_steps(options.bars)
    if _same_file(path, prepared.path) or _same_file(options.start_file, prepared.path):
        if not same_outside(prepared.line, other.line, start, end):
            raise InputFileError(f"{role} file {path.name} has other notes than {prepared.path.name} outside "
                                 f"{options.bars}, so they are not two versions of one song")
    line = with_target_of(prepared.line, other.line, start, end)
    other_triplets = frozenset(step for step in song_triplet_steps(other, edit_model.config) if start <= step < end)
    tokens = target_tokens_in_frame(line, window, other_triplets)
    w, note = latent_from_file(path, records, other, options, edit_model, role)
    if w is None:
        framed = window.tokens.copy()
        framed[window.target.start : window.target.end] = tokens
        w = generate.encode_w(edit_model.engine, framed, window.target)
    result.add_warning(note)
    return Endpoint(line, Candidate(tokens, w), target_voice_notes(other, options.bars, options.voice), target_triplet_steps(tokens, window))



def latent_from_file(path: Path, records: Sequence[dict], other: PreparedSong, options: EditOptions,
                     edit_model: LoadedEngine, role: str) -> tuple[Optional[np.ndarray], Optional[str]]:
    """The w an earlier output stored for these bars (None: encode its notes), and a note for the user.

    A stored w is reused exactly when this model made the file for these bars and its target notes
    are still those it wrote; a file edited by hand since is encoded from its notes, with a warning.
    """
    w = stored_latent(records, options.bars, edit_model.name, edit_model.sha256, edit_model.config.z_dim)
    start, end = other.target_steps(options.bars)
    if w is not None and edited_by_hand(recorded_target_notes(records, options.bars), other.all_notes, start, end):
        return None, (f"{role} file {path.name} was edited after clsm wrote it; the latent of its "
                      f"{options.bars} is taken from its notes (encoded)")
    if w is not None:
        return w, None
    why = "is not an output of" if not records else "was not made for these bars by"
    return None, f"{role} file {path.name} {why} model {edit_model.name}; its {options.bars} were encoded instead"


def _same_file(first: Optional[Path], second: Path) -> bool:
    if first is None:
        return False
    try:
        return Path(first).resolve() == Path(second).resolve()
    except OSError:
        return False


def _apply(prepared: PreparedSong, line: Sequence[StepNote], window: ModelWindow, candidate: Candidate,
           chunk: BarRange, previous: Optional[_Version] = None, index: int = 0) -> _Version:
    start, end = prepared.target_steps(chunk)
    new_line = splice(line, start, end, target_notes(candidate.tokens, window, line))
    latents = (previous.latents if previous else ()) + (Latent(chunk, candidate.w),)
    tokens = candidate.tokens if previous is None else np.concatenate([previous.tokens, candidate.tokens])
    triplets = target_triplet_steps(candidate.tokens, window) | (previous.triplet_steps if previous else frozenset())
    return _Version(tuple(new_line), latents, tokens.astype(TOKEN_DTYPE), index, candidate=candidate,
                    triplet_steps=triplets)


def _note_window(result: FileResult, prepared: PreparedSong, window: ModelWindow, config) -> None:
    result.octave_shift = window.octave_shift
    result.add_warning(short_song_warning(prepared, window, config))


def _roll_view(prepared: PreparedSong, version: _Version, title: str, options: EditOptions) -> RollView:
    """Preview of an output: the file's notes (chords kept) with the target spliced in."""
    start, end = prepared.target_steps(options.bars)
    notes = _edited_notes(prepared, version, options)
    shown = _shown_bars(prepared, options)
    rows = tuple((bar.number, bar.first_step, bar.steps) for bar in prepared.bars[shown.first - 1 : shown.last])
    return RollView(title, tuple(notes), rows, frozenset(options.bars.numbers))


def _shown_bars(prepared: PreparedSong, options: EditOptions) -> BarRange:
    """Bars a preview shows: the target and up to two bars of context on each side."""
    return BarRange(max(1, options.bars.first - 2), min(len(prepared.bars), options.bars.last + 2))


def _write_combined(prepared: PreparedSong, options: EditOptions, versions: Sequence[_Version], path: Path,
                    result: FileResult, generation: int) -> None:
    """The audition file: the original (infill, vary) then each output, one pass each (midi_write)."""
    record = provenance_record(result, 0, (), generation, options)
    record["outputs"] = len(versions)
    name = {"infill": "candidate", "vary": "variation", "interpolate": "step"}[options.verb]
    passes = [midi_write.AuditionVersion(f"{name} {k}", _edited_notes(prepared, version, options))
              for k, version in enumerate(versions, start=1)]
    if options.verb != "interpolate":
        passes.insert(0, midi_write.AuditionVersion("original", prepared.all_notes))
    midi_write.write_audition_file(prepared.song, prepared.track, list(prepared.bars), options.bars, passes, path,
                                   provenance_text(record), options.force)


def _edited_notes(prepared: PreparedSong, version: _Version, options: EditOptions) -> list[StepNote]:
    """The edited track's notes (chords kept) in an output, as the writer writes them on the grid."""
    start, end = prepared.target_steps(options.bars)
    return edited_track_notes(prepared.all_notes, prepared.line, prepared.accompaniment, start, end,
                              notes_for_writer(version.line, start, end), options.voice)
