"""One song, ready for the model: read, bars checked, melody chosen, quantized and reduced to a line.

:func:`open_song` reads the file and checks the bar range; :func:`prepare_song` chooses the melody
track (``track_choice.choose_melody``: once per song, on the whole song, never on the bar range),
quantizes it to the song step grid and splits it into its top voice (the line the model sees) and
the notes under it (which an edit keeps, unless ``--voice all``). ``clsm show`` and the editing
commands share both, so they see the same track, notes and warnings (the quantization report
included). :func:`target_warnings` says what an edit of some bars will keep, or that the chosen
track has nothing there to edit. :func:`check_model_meters` is the editing commands' own check that
the model covers the meter of the target's bars (odd bars elsewhere in its window only warn: the
window keeps off them).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence, Union

from clsm_cli.constants import MAX_TARGET_BARS
from clsm_cli.errors import InputFileError
from clsm_cli.music import melody
from clsm_cli.music.bars import Bar, BarRange, bar_fits, meter_run, song_bars, window_around
from clsm_cli.timebase import Meter, meters_text
from clsm_cli.music.midi_read import file_identity, read_midi
from clsm_cli.music.phase import GridPhase
from clsm_cli.music.song import MidiSong, MidiTrack
from clsm_cli.music.tokens import StepNote
from clsm_cli.music.track_choice import MelodyChoice, choose_melody, silent_target_warning


@dataclass(frozen=True)
class OpenedSong:
    """A song read from ``path`` with its bars, and what a musician may want to know about it."""

    path: Path
    song: MidiSong
    bars: tuple[Bar, ...]  # numbered from 1
    warnings: tuple[str, ...]
    phase_ticks: int = 0  # the tick bars are counted from (music/phase.py)
    phase_rule: str = "detected"  # "detected" (no --phase: the confident part of what was detected), "forced" (--phase)
    phase: Optional[GridPhase] = None  # what was detected (None with --phase, or when no melody track reads)


@dataclass(frozen=True)
class PreparedSong:
    """A song read and checked, its melody track quantized (all notes) and reduced to one line."""

    path: Path
    song: MidiSong
    bars: tuple[Bar, ...]
    track: MidiTrack
    all_notes: tuple[StepNote, ...]  # quantized, chords kept (what the file plays)
    line: tuple[StepNote, ...]  # one line, the highest note wins (what the model sees)
    dropped_notes: int  # notes of all_notes that are not in line
    warnings: tuple[str, ...]
    choice: MelodyChoice  # why this track (and the runners-up)
    accompaniment: tuple[StepNote, ...] = ()  # quantized notes under the top voice (voices' rule)

    def target_steps(self, target: BarRange) -> tuple[int, int]:
        return target.step_span(self.bars)

    @property
    def track_label(self) -> str:
        name = self.track.name
        return f"{self.track.number} ({name})" if name else f"{self.track.number}"


_last_read: dict = {}  # the song open_song read last, under its file's identity (see _read_once)


def _read_once(path: Path) -> MidiSong:
    """``read_midi(path)``, remembering the last file read: a command that opens a file to choose its
    model and again to edit it reads it once. A file changed since (its time or size) is read again."""
    try:
        identity = file_identity(path)
    except OSError:
        return read_midi(path)  # read_midi says what is wrong in one sentence
    if _last_read.get("identity") != identity:
        _last_read.clear()
        _last_read.update(identity=identity, song=read_midi(path))
    return _last_read["song"]


def open_song(path: Union[str, Path], bar_range: Optional[BarRange], meter: Optional[Meter] = None,
              phase_ticks: Optional[int] = None) -> OpenedSong:
    """Read ``path``; check that ``bar_range`` (if any) lies inside it (InputFileError, exit 3).

    ``meter`` (``--meter``) stands for the file's time signatures when counting bars. Bars are
    counted from ``phase_ticks`` (``--phase``; 0: from tick 0; negative: before it); None detects
    the grid's phase (:func:`detected_phase`) and counts them from its confident part (the bar
    lines on the music's beats; bar 1 may then start before tick 0, padded, see ``music/bars.py``),
    with a warning saying so (a file on the grid from tick 0 is unaffected).
    """
    path = Path(path)
    song = _read_once(path)
    phase, rule = None, "forced"
    if phase_ticks is None:
        phase, rule = detected_phase(song, meter), "detected"
        phase_ticks = phase.applied_ticks if phase is not None else 0
    bars = tuple(song_bars(song, meter, phase_ticks))
    if bar_range is not None:
        bar_range.check_inside(bars, path.name)
    warnings = list(song.warnings)
    if rule == "detected" and phase_ticks:
        warnings.append(phase_warning(path.name, phase))
    if meter is not None and {(n, d) for _, n, d in song.time_signatures} != {meter.as_tuple()}:
        warnings.append(meter_override_warning(song, meter, path.name))
    elif not song.had_time_signature:
        warnings.append(f"{path.name} has no time signature: assuming 4/4 (the MIDI default)")
    return OpenedSong(path, song, bars, tuple(warnings), phase_ticks, rule, phase)


def phase_warning(file_name: str, phase: GridPhase) -> str:
    """What the editing commands say when a detected phase moved the bars."""
    return (f"{file_name}: its grid is shifted, so {phase.describe_applied()} "
            "(--phase 0 counts from tick 0, --phase TICKS from another tick)")


def detected_phase(song: MidiSong, meter: Optional[Meter] = None) -> Optional[GridPhase]:
    """The grid phase of ``song``'s automatically chosen melody track (``music/phase.py``), with its
    bars counted from tick 0 in ``meter``; None when no track reads as a melody. Remembered with
    the song read last (one detection per file and meter)."""
    key = ("phase", meter)
    remembered = _last_read.get("song") is song
    if not remembered or key not in _last_read:
        from clsm_cli.errors import ClsmError
        from clsm_cli.music.phase import song_grid_phase

        try:
            bars = song_bars(song, meter, 0)
            track = choose_melody(song, None, bars).track
            phase = song_grid_phase(song, track, meter_run_steps(bars))
        except ClsmError:
            phase = None
        if phase is not None and abs(phase.applied_ticks) >= song.last_note_end:
            phase = None  # a song shorter than its phase: nothing to count from
        if remembered:
            _last_read[key] = phase
        return phase
    return _last_read[key]


def meter_run_steps(bars: Sequence[Bar]) -> int:
    """Steps per bar of the song's most common meter (the first of equals)."""
    counts: dict[int, int] = {}
    for bar in bars:
        counts[bar.time_signature.steps_per_bar] = counts.get(bar.time_signature.steps_per_bar, 0) + 1
    return max(counts, key=counts.__getitem__)


def meter_override_warning(song: MidiSong, meter: Meter, file_name: str) -> str:
    """What ``--meter`` did to a file: bars counted in ``meter``, its own time signatures kept."""
    written = sorted({(numerator, denominator) for _, numerator, denominator in song.time_signatures})
    says = (f"the file says {meters_text(f'{n}/{d}' for n, d in written)}" if written
            else "the file has no time signature")
    return (f"{file_name}: bars counted in {meter} from the start (--meter; {says}, "
            "and outputs keep its own time signatures)")


def prepare_song(
    source: Union[str, Path, OpenedSong], bar_range: Optional[BarRange], track: Optional[str],
    triplet_grid: bool = False,
) -> PreparedSong:
    """Choose the melody track of ``source`` (``--track``, else automatically), quantize it and
    reduce it to one line. Warns about notes that quantization moved (for a model on the
    ``triplet_grid``, not about the triplets it reads as they are)."""
    opened = source if isinstance(source, OpenedSong) else open_song(source, bar_range)
    bars = list(opened.bars)
    choice = choose_melody(opened.song, track, bars)
    chosen = choice.track
    quantized = melody.quantize_track(chosen, bars, opened.song.ticks_per_beat)
    warnings = list(opened.warnings)
    moved = quantized.report.summary(triplet_grid)
    if moved:
        warnings.append(f"track {chosen.number}: {moved}")
    warnings.extend(choice.doubling_warnings())
    all_notes = tuple(sorted(quantized.notes, key=lambda note: (note.start_step, note.pitch)))
    line, dropped = melody.reduce_to_monophony(list(all_notes))
    line = tuple(sorted(line, key=lambda note: note.start_step))
    split = melody.split_top_voice(chosen, bars, opened.song.ticks_per_beat)
    accompaniment = tuple(StepNote(n.start_step, n.end_step, n.note.pitch) for n in split.others)
    return PreparedSong(opened.path, opened.song, opened.bars, chosen, all_notes, line, dropped, tuple(warnings),
                        choice, accompaniment)


def target_warnings(prepared: PreparedSong, target: BarRange, voice: str = "top") -> list[str]:
    """What a musician should know before the ``target`` bars are edited: that the chosen track has
    no notes in or around them (``--track`` chooses another), and what happens to chords there:
    kept under the new melody (``voice="top"``) or replaced by one new line (``voice="all"``)."""
    warnings = []
    silent = silent_target_warning(prepared.song, prepared.track, list(prepared.bars), target.first, target.last)
    if silent:
        warnings.append(silent)
    start, end = prepared.target_steps(target)
    under = sum(1 for note in prepared.accompaniment if start <= note.start_step < end)
    if under and voice == "all":
        warnings.append(
            f"{target} of track {prepared.track_label} in {prepared.path.name} hold chords; "
            f"with --voice all they are replaced by a single new line ({_count(under, 'note')} under the melody go)"
        )
    elif under:
        warnings.append(
            f"kept {_count(under, 'accompaniment note')} under the melody in {target} of track "
            f"{prepared.track_label} (only its top voice is edited; --voice all replaces every note)"
        )
    return warnings


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def bars_seen(num_bars: int, target: BarRange, bars_per_window: int) -> BarRange:
    """The song bars any window of this edit covers: one window centred on each chunk of the target."""
    windows = [window_around(chunk, num_bars, bars_per_window) for chunk in target.chunks(MAX_TARGET_BARS)]
    return BarRange(min(window.first for window in windows), max(window.last for window in windows))


def check_model_meters(bars: Sequence[Bar], target: BarRange, file_name: str, model_name: str, config) -> Optional[str]:
    """Whether the model can edit ``target``: an InputFileError (exit 3) when a target bar is in a
    meter the model does not know or is cut short; else a warning when odd bars (another meter, or
    short) lie in the window it would see, which the window is then shifted or padded around."""
    covered = [Meter(*meter) for meter in config.meters]
    for bar in bars[target.first - 1 : target.last]:
        meter = bar.time_signature
        if meter not in covered:
            everywhere = all(other.time_signature == meter for other in bars)
            where = file_name if everywhere else f"bar {bar.number} of {file_name}"
            raise InputFileError(
                f"{where} is in {meter}, but the model {model_name} only knows "
                f"{meters_text(covered)}; see clsm models for the meters each model covers"
            )
        if bar.steps != config.steps_per_bar:
            raise InputFileError(
                f"bar {bar.number} of {file_name} is cut short by a time-signature change "
                f"({bar.steps} of {config.steps_per_bar} sixteenths); choose bars away from it"
            )
    window_bars = int(config.window_steps) // int(config.steps_per_bar)
    seen = bars_seen(len(bars), target, window_bars)
    odd = [bar for bar in bars[seen.first - 1 : seen.last] if not bar_fits(bar, covered, config.steps_per_bar)]
    if not odd:
        return None
    run = meter_run(bars, target, covered, config.steps_per_bar)
    window = window_around(target, len(bars), window_bars, within=run)
    rests = window_bars - window.count
    sees = f"{window}" + (f" and {rests} bar{'s' if rests != 1 else ''} of rest" if rests > 0 else "")
    return (
        f"{_odd_bars_text(odd)} of {file_name} {'is' if len(odd) == 1 else 'are'} not in the meter of the model "
        f"{model_name} ({meters_text(covered)}): its window is kept off {'it' if len(odd) == 1 else 'them'} "
        f"and sees {sees}"
    )


def _odd_bars_text(odd: Sequence[Bar]) -> str:
    """``"bar 8 (2/4)"`` or ``"bars 1 (1/4) and 9 (2/4)"``; a bar cut short says so."""
    def one(bar: Bar) -> str:
        return f"{bar.number} ({bar.time_signature})" if bar.is_complete else f"{bar.number} (cut short)"

    if len(odd) == 1:
        return f"bar {one(odd[0])}"
    return "bars " + ", ".join(one(bar) for bar in odd[:-1]) + f" and {one(odd[-1])}"
