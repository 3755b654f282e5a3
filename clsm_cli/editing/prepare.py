"""One song, ready for the model: read, bars checked, melody chosen, quantized and reduced to a line.

:func:`open_song` reads the file and checks the bar range; :func:`prepare_song` chooses the melody
track, quantizes it to the song step grid and reduces it to one line. ``clsm show`` and the editing
commands share both, so they see the same track, notes and warnings (the quantization report
included). :func:`check_model_meters` is the editing commands' own check that the model covers the
meter of the target's bars (odd bars elsewhere in its window only warn: the window keeps off them).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence, Union

from clsm_cli.constants import MAX_TARGET_BARS
from clsm_cli.errors import InputFileError
from clsm_cli.music import melody
from clsm_cli.music.bars import Bar, BarRange, bar_fits, meter_run, song_bars, window_around
from clsm_cli.music.meter import Meter, meters_text
from clsm_cli.music.midi_read import read_midi
from clsm_cli.music.song import MidiSong, MidiTrack
from clsm_cli.music.tokens import StepNote


@dataclass(frozen=True)
class OpenedSong:
    """A song read from ``path`` with its bars, and what a musician may want to know about it."""

    path: Path
    song: MidiSong
    bars: tuple[Bar, ...]  # numbered from 1
    warnings: tuple[str, ...]


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

    def target_steps(self, target: BarRange) -> tuple[int, int]:
        return target.step_span(self.bars)

    @property
    def track_label(self) -> str:
        name = self.track.name
        return f"{self.track.number} ({name})" if name else f"{self.track.number}"


def open_song(path: Union[str, Path], bar_range: Optional[BarRange], meter: Optional[Meter] = None) -> OpenedSong:
    """Read ``path``; check that ``bar_range`` (if any) lies inside it (InputFileError, exit 3).

    ``meter`` (``--meter``) stands for the file's time signatures when counting bars.
    """
    path = Path(path)
    song = read_midi(path)
    bars = tuple(song_bars(song, meter))
    if bar_range is not None:
        bar_range.check_inside(bars, path.name)
    warnings = list(song.warnings)
    if meter is not None and {(n, d) for _, n, d in song.time_signatures} != {meter.as_tuple()}:
        warnings.append(meter_override_warning(song, meter, path.name))
    elif not song.had_time_signature:
        warnings.append(f"{path.name} has no time signature: assuming 4/4 (the MIDI default)")
    return OpenedSong(path, song, bars, tuple(warnings))


def meter_override_warning(song: MidiSong, meter: Meter, file_name: str) -> str:
    """What ``--meter`` did to a file: bars counted in ``meter``, its own time signatures kept."""
    written = sorted({(numerator, denominator) for _, numerator, denominator in song.time_signatures})
    says = (f"the file says {meters_text(f'{n}/{d}' for n, d in written)}" if written
            else "the file has no time signature")
    return (f"{file_name}: bars counted in {meter} from the start (--meter; {says}, "
            "and outputs keep its own time signatures)")


def prepare_song(
    source: Union[str, Path, OpenedSong], bar_range: Optional[BarRange], track: Optional[str]
) -> PreparedSong:
    """Choose the melody track of ``source`` (``--track``, else automatically), quantize it and
    reduce it to one line. Warns about notes that quantization moved."""
    opened = source if isinstance(source, OpenedSong) else open_song(source, bar_range)
    bars = list(opened.bars)
    chosen = melody.choose_melody_track(opened.song, track, bar_range, bars)
    quantized = melody.quantize_track(chosen, bars, opened.song.ticks_per_beat)
    warnings = list(opened.warnings)
    if quantized.report.summary():
        warnings.append(f"track {chosen.number}: {quantized.report.summary()}")
    all_notes = tuple(sorted(quantized.notes, key=lambda note: (note.start_step, note.pitch)))
    line, dropped = melody.reduce_to_monophony(list(all_notes))
    line = tuple(sorted(line, key=lambda note: note.start_step))
    return PreparedSong(opened.path, opened.song, opened.bars, chosen, all_notes, line, dropped, tuple(warnings))


def chords_in_target_warning(prepared: PreparedSong, target: BarRange) -> Optional[str]:
    """A warning when the target bars hold chords, which an edit replaces by one new line."""
    start, end = prepared.target_steps(target)
    in_target = lambda notes: sum(1 for note in notes if start <= note.start_step < end)  # noqa: E731
    if in_target(prepared.all_notes) <= in_target(prepared.line):
        return None
    return (
        f"{target} of track {prepared.track.number} in {prepared.path.name} hold chords; "
        "they are replaced by a single new line"
    )


def bars_seen(num_bars: int, target: BarRange, bars_per_window: int) -> BarRange:
    """The song bars any window of this edit covers (chunk windows reach back from their chunk)."""
    seen = window_around(target, num_bars, bars_per_window)
    if target.count > MAX_TARGET_BARS:
        first_chunk_last = target.first + MAX_TARGET_BARS - 1  # that chunk's window ends with it
        return BarRange(max(1, min(seen.first, first_chunk_last - bars_per_window + 1)), seen.last)
    return seen


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
