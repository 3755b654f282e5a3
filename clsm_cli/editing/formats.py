"""The output formats of an edit, as one list: each a name (its ``--json`` key), a suffix and a writer.

Every output of ``infill``, ``interpolate`` and ``vary`` is a MIDI file; ``--wav``, ``--musicxml``
and ``--abc`` add files of the same name beside it (``song.infill-bars3-4-s7-1.musicxml``). The
MIDI is written first and the others are made from it: the WAV renders it, the notation writers
read its edited track back (``midi_read``) and notate it with the bars the edit counted
(``--meter`` included), the song's key, its tempo map and the edited bars marked "new". So a
MusicXML or ABC file holds exactly what the MIDI output holds, on the notation grid. Every file
goes through the caller's ``OutputSet``, so a set of outputs stays all or none.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Optional, Sequence


from clsm_cli.music.bars import BarRange, song_bars
from clsm_cli.music.meter import Meter
from clsm_cli.music.song import MidiTrack


@dataclass(frozen=True)
class OutputJob:
    """What the writers of one output need."""

    midi_path: Path  # where the MIDI output goes (written by the first format)
    write_midi: Callable[[Path], object]  # writes the MIDI output to the path it is given
    track_chunk: int  # the edited track, as (chunk, channel), in the MIDI output
    track_channel: int
    edited_bars: BarRange
    meter: Optional[Meter]  # --meter: bars counted in this meter
    force: bool
    soundfont: Optional[Path] = None  # --soundfont: what the WAV renders with (None: the search order)
    phase_ticks: int = 0  # where the edit's bar 1 starts (its grid phase, music/phase.py): bars counted from it


@dataclass(frozen=True)
class OutputFormat:
    """One kind of output file: ``name`` is its ``--json`` key; ``write(job, path)`` writes it and
    returns a note for the summary (the WAV's renderer) or None."""

    name: str
    suffix: str
    write: Callable[[OutputJob, Path], Optional[str]]

    def path_beside(self, midi_path: Path) -> Path:
        return Path(midi_path).with_suffix(self.suffix)


def _write_midi(job: OutputJob, path: Path) -> None:
    job.write_midi(path)
    return None


def _write_wav(job: OutputJob, path: Path) -> str:
    from clsm_cli.music import audio

    return audio.render_wav(job.midi_path, path, force=job.force, soundfont=job.soundfont)


def edited_track_score(midi_path: Path, track_chunk: int, track_channel: int, meter: Optional[Meter],
                       marked: BarRange, shown: Optional[BarRange] = None, phase_ticks: int = 0):
    """The :class:`~clsm_cli.music.notation.Score` of one track of a MIDI file (bars as the edit
    counts them), with ``marked`` bars as the new ones."""
    from clsm_cli.music.midi_read import read_midi
    from clsm_cli.music.notation import track_score

    song = read_midi(midi_path)
    track = next((t for t in song.tracks if (t.chunk, t.channel) == (track_chunk, track_channel)), None)
    if track is None:  # the edit left the track without a note: a score of rests
        track = MidiTrack(0, track_chunk, track_channel, "", 0, False, [])
    bars = song_bars(song, meter, phase_ticks)
    return track_score(song, track, bars, Path(midi_path).stem, marked.numbers, shown)


def melody_notation(prepared, shown: Optional[BarRange], kind: str) -> tuple[str, int]:
    """A prepared song's melody track as notation (``kind`` "musicxml" or "abc"; only the ``shown``
    bars when given), and how many of its notes lie outside its top line (what ABC leaves out)."""
    from clsm_cli.music.notation import track_score

    score = track_score(prepared.song, prepared.track, list(prepared.bars), prepared.path.stem, (), shown)
    return (_musicxml(score) if kind == "musicxml" else _abc(score)), score.lower_notes


def write_text_output(path: Path, text: str, force: bool) -> None:
    """Write a text output atomically; an existing file only with ``force``; OutputError (exit 5)."""
    from clsm_cli.atomic import write_output

    write_output(path, text.encode("utf-8"), force)


def _notation_writer(render: Callable) -> Callable[[OutputJob, Path], None]:
    def write(job: OutputJob, path: Path) -> None:
        score = edited_track_score(job.midi_path, job.track_chunk, job.track_channel, job.meter, job.edited_bars,
                                   phase_ticks=job.phase_ticks)
        write_text_output(path, render(score), job.force)
        return None

    return write


def _musicxml(score) -> str:
    from clsm_cli.music.musicxml import score_to_musicxml

    return score_to_musicxml(score)


def _abc(score) -> str:
    from clsm_cli.music.abc import score_to_abc

    return score_to_abc(score)


MIDI = OutputFormat("midi", ".mid", _write_midi)
WAV = OutputFormat("wav", ".wav", _write_wav)
MUSICXML = OutputFormat("musicxml", ".musicxml", _notation_writer(_musicxml))
ABC = OutputFormat("abc", ".abc", _notation_writer(_abc))
FORMATS = (MIDI, WAV, MUSICXML, ABC)  # the order they are written in: the MIDI first


def chosen_formats(wav: bool = False, musicxml: bool = False, abc: bool = False) -> tuple[OutputFormat, ...]:
    """The formats an edit writes: always MIDI, then what the flags ask for."""
    wanted = {"midi": True, "wav": wav, "musicxml": musicxml, "abc": abc}
    return tuple(output_format for output_format in FORMATS if wanted[output_format.name])


def output_paths(formats: Sequence[OutputFormat], midi_path: Path) -> dict[str, Path]:
    """Format name -> the path of that file of one output."""
    return {output_format.name: output_format.path_beside(midi_path) for output_format in formats}


def write_formats(formats: Sequence[OutputFormat], job: OutputJob, written) -> dict[str, tuple[Path, Optional[str]]]:
    """Stage every format of one output in ``written`` (an ``OutputSet``: each file goes to a
    temporary, renamed into place when the whole set is written), the MIDI first; the later formats
    read the MIDI from its temporary. Returns format name -> (final path, note)."""
    files = {}
    source = job
    for output_format in formats:
        path = output_format.path_beside(job.midi_path)
        note = written.add_written(path, lambda temporary, output_format=output_format: output_format.write(source, temporary))
        if output_format is MIDI:
            source = replace(job, midi_path=written.temporary_of(path))
        files[output_format.name] = (path, note)
    return files
