"""The built-in corpus: folk melodies bundled with music21, read into step-grid note lists.

``clsm data build --corpus music21`` reads these collections of music21's core corpus (all ABC
files; each ``X:`` tune of a file is one song):

==================  ==========================================================================
essenFolksong       the Essen folk song collection (German, Chinese and other European songs)
oneills1850         O'Neill's Music of Ireland (1850 tunes)
ryansMammoth        Ryan's Mammoth Collection (American fiddle tunes, 1883)
airdsAirs           Aird's Selection of Scotch, English, Irish and Foreign Airs (1778-1803)
miscFolk            American fife music and Northumbrian minstrelsy
nottingham-dataset  the two sample tunes of the Nottingham dataset music21 ships
==================  ==========================================================================

The rest of the corpus (Bach chorales, Palestrina, Monteverdi, ...) is art music in several voices
and stays out. A song's identity is its corpus path and ``X:`` number, e.g.
``essenFolksong/altdeu10.abc#3``, so the split of a tune never depends on the rest of the corpus.

How a tune becomes notes:

* the meter: every meter whose bar is a whole number of 16ths is kept (``M:C`` is 4/4, ``M:C|``
  2/2); a tune declaring no meter (``M:none``), a meter outside ``--meters``, or meters of two
  groups (music21's ABC reader drops a meter change, so their bars cannot be found) is skipped
  before the slow music21 parse, and so is a parsed tune with time signatures of two groups;
* the melody is read as written, repeats not played out (music21's ``expandRepeats`` misreads
  many ABC repeat layouts), taking only the last ending of a volta (``|1 ... :|2 ...``): the path
  of the final pass, so bars stay whole and no melody jumps from one ending into the other;
* a pickup (anacrusis) bar is padded with rests at its start to a full bar, so bar lines fall on
  the 16th-note grid; a section's pickup written after a complete bar and a double bar or repeat
  sign (``... A2 || B2 | Aaa^g ...``) takes the place of the end of that bar, as it is played; a
  tune whose full bars then do not all start on the grid (bars of another length in the middle)
  is skipped as "irregular bars";
* accidentals carry to the end of their bar (ABC 2.1, standard notation);
* ties between notes of the same pitch merge into one note; a chord keeps its highest note;
  grace notes and chord symbols are dropped;
* then the tune is what reading a MIDI rendering of it would give (:func:`tune_song`: one
  ``MidiTrack`` per part, 960 ticks per quarter, its time signature at tick 0) and goes through exactly the MIDI path (:func:`clsm_cli.data.song_notes.midi_song_notes`):
  bars from the time signatures, ``melody.quantize_track`` (quarterLength x 4 steps, nearest
  step), the same filters.

Nothing is cached: music21 parses each tune's text in memory (no pickles in its scratch folder).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Collection

import mido

from clsm_cli.data.song_notes import SongNotes, SongSkipped, midi_song_notes
from clsm_cli.errors import ClsmError, UsageError
from clsm_cli.timebase import SIXTEENTH_GRID, Grid, round_half_up
from clsm_cli.timebase import Meter, meters_text
from clsm_cli.music.song import MidiNote, MidiSong, MidiTrack

FOLK_COLLECTIONS = ("essenFolksong", "oneills1850", "ryansMammoth", "airdsAirs", "miscFolk", "nottingham-dataset")
TICKS_PER_QUARTER = 960  # exact for the tuplets folk tunes use (thirds, fifths, sixths, eighths)
_VELOCITY = 80
_ABC_METER_NAMES = {"C": "4/4", "C|": "2/2"}
_TUNE_START = re.compile(r"(?m)^(?=X:)")
_REFERENCE = re.compile(r"X:\s*(\S*)")
# music21 carries an accidental to the end of its bar (as standard notation and ABC 2.1 do) only in
# files that declare ABC 2.x; these collections declare no version but are written that way
# (Essen: "d2_e2e2" is E flat twice), so every tune is parsed as ABC 2.1.
_ABC_2_1 = "%abc-2.1\n"
_METER_FIELDS = re.compile(r"(?m)^M:([^\n%]*)|\[M:([^\]%]*)\]")


@dataclass(frozen=True)
class Tune:
    """One ABC tune to read: its song identity and the text music21 parses (file header + tune)."""

    identity: str
    text: str


def require_music21():
    try:
        import music21  # noqa: F401
    except ImportError:
        raise ClsmError(
            "the built-in corpus needs music21; install it with: pip install 'clsm-cli[corpus]'"
        ) from None
    return music21


def corpus_root() -> Path:
    """music21's bundled corpus folder."""
    music21 = require_music21()
    return Path(music21.__file__).resolve().parent / "corpus"


def music21_version() -> str:
    return str(require_music21().__version__)


def collection_files(root: Path | None = None) -> list[Path]:
    """The ABC files of the folk collections, sorted (the build order)."""
    root = root or corpus_root()
    files: list[Path] = []
    for collection in FOLK_COLLECTIONS:
        files.extend(sorted((root / collection).glob("*.abc")))
    if not files:
        raise ClsmError(f"no folk collections found in music21's corpus at {root}; reinstall music21")
    return files


def split_tunes(text: str, relative_path: str) -> list[Tune]:
    """The tunes of one ABC file, each with the file header (text before the first ``X:``)."""
    pieces = _TUNE_START.split(text)
    header = "" if pieces[0].startswith("X:") else pieces[0]
    tunes: list[Tune] = []
    seen: dict[str, int] = {}
    for piece in pieces:
        if not piece.startswith("X:"):
            continue
        reference = _REFERENCE.match(piece).group(1) or str(len(tunes) + 1)
        seen[reference] = seen.get(reference, 0) + 1
        if seen[reference] > 1:  # a repeated X: number still names a distinct tune
            reference = f"{reference}.{seen[reference]}"
        tunes.append(Tune(identity=f"{relative_path}#{reference}", text=header + piece))
    return tunes


def list_folk_tunes(root: Path | None = None) -> list[Tune]:
    """Every tune of the folk collections, in a fixed order."""
    root = root or corpus_root()
    tunes: list[Tune] = []
    for path in collection_files(root):
        raw = path.read_bytes()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
        tunes.extend(split_tunes(text, path.relative_to(root).as_posix()))
    return tunes


def declared_meters(abc_text: str) -> list[str]:
    """The meters an ABC tune's text declares (``M:`` lines and inline ``[M:...]``), normalised."""
    meters = []
    for line_field, inline_field in _METER_FIELDS.findall(abc_text):
        value = (line_field or inline_field).strip()
        meters.append(_ABC_METER_NAMES.get(value, value.replace(" ", "")))
    return meters


def read_tune(tune: Tune, meter_groups: Collection[Meter] | None = None, grid: Grid = SIXTEENTH_GRID) -> SongNotes:
    """The notes of one tune on the 16th-note grid (and its tokens on the triplet ``grid``); raises
    SongSkipped with the reason it cannot be used. ``meter_groups`` (None: every meter) are the
    meter groups the build keeps."""
    return midi_song_notes(tune_song(tune, meter_groups), meter_groups, grid)


def check_declared_meters(abc_text: str, meter_groups: Collection[Meter] | None = None) -> None:
    """SongSkipped("meter") before the slow parse: no meter, one off the 16th grid, or none asked for."""
    declared = declared_meters(abc_text)
    if not declared:
        return  # the parsed tune decides (music21 finds no time signature: free meter)
    meters = []
    for text in declared:
        if text.lower() in ("none", ""):
            raise SongSkipped("meter", "no time signature (free meter)")
        try:
            meters.append(Meter.parse(text))
        except UsageError:
            raise SongSkipped("meter", f"in {text}, which has no whole number of 16th notes a bar") from None
    _check_one_group(meters)
    if meter_groups is not None and not any(meter.group in meter_groups for meter in meters):
        wanted = meters_text(sorted(meter_groups))
        raise SongSkipped("meter", f"in {meters_text(sorted(set(meters)))}, not among the meters asked for ({wanted})")


def _check_one_group(meters: list[Meter]) -> None:
    """SongSkipped("meter") for a tune in two meter groups: music21's ABC reader keeps no meter
    change (and gives a bar it cannot place a time signature of its own), so its bars are unknown."""
    if len({meter.group for meter in meters}) > 1:
        found = meters_text(sorted(set(meters)))
        raise SongSkipped("meter", f"it has time signatures of {found}: music21 keeps no meter change")


def tune_song(tune: Tune, meter_groups: Collection[Meter] | None = None) -> MidiSong:
    """A tune as the MidiSong reading a MIDI rendering of it would give (one track per part)."""
    check_declared_meters(tune.text, meter_groups)
    from music21 import converter

    try:
        score = converter.parseData(_ABC_2_1 + tune.text, format="abc")
    except Exception as error:  # noqa: BLE001 - music21 raises many types for bad ABC
        raise SongSkipped("unreadable", f"music21 cannot parse it ({type(error).__name__}: {error})") from None
    parts = list(getattr(score, "parts", [])) or [score]
    tracks = []
    meter = None
    for index, part in enumerate(parts):
        part_meter, events = _part_events(part)
        meter = meter or part_meter
        notes = [
            MidiNote(_ticks(start), _ticks(end), pitch, _VELOCITY)
            for start, end, pitch in events
            if _ticks(end) > _ticks(start)
        ]
        instrument = part.getInstrument(returnDefault=False)
        program = instrument.midiProgram if instrument is not None and instrument.midiProgram is not None else 0
        tracks.append(
            MidiTrack(
                number=index + 1,
                chunk=index + 1,
                channel=index % 16,
                name=part.partName or "",
                program=program,
                is_drum=False,
                notes=sorted(notes, key=lambda note: (note.start_tick, note.pitch)),
            )
        )
    end_tick = max((note.end_tick for track in tracks for note in track.notes), default=0)
    return MidiSong(
        path=Path(tune.identity),
        ticks_per_beat=TICKS_PER_QUARTER,
        midi_type=1,
        tracks=tracks,
        time_signatures=[(0, meter.numerator, meter.denominator)],
        had_time_signature=True,
        tempos=[(0, 500_000)],
        end_tick=end_tick,
        midi_file=mido.MidiFile(type=1, ticks_per_beat=TICKS_PER_QUARTER),
    )


def _ticks(quarters: Fraction) -> int:
    return round_half_up(quarters * TICKS_PER_QUARTER)


def _bar_quarters(meter: Meter) -> Fraction:
    return Fraction(4 * meter.numerator, meter.denominator)


def _signature_meter(signature) -> Meter:
    try:
        return Meter(int(signature.numerator), int(signature.denominator))
    except ValueError:
        raise SongSkipped("meter", f"in {signature.ratioString}, which has no whole number of 16th notes a bar") from None


def _part_events(part) -> tuple[Meter, list[tuple[Fraction, Fraction, int]]]:
    """(meter, [(start, end, pitch)] in quarters from the padded song start) for one part."""
    signatures = list(part.recurse().getElementsByClass("TimeSignature"))
    if not signatures:
        raise SongSkipped("meter", "no time signature (free meter)")
    meters = [_signature_meter(signature) for signature in signatures]
    _check_one_group(meters)
    meter = meters[0]

    skipped_endings = _earlier_ending_measures(part)
    measures = [m for m in part.getElementsByClass("Measure") if id(m) not in skipped_endings]
    if not measures:
        raise SongSkipped("irregular bars", "it has no bar lines")
    bar = _bar_quarters(meter)
    first_length = Fraction(measures[0].duration.quarterLength)
    position = bar - first_length if 0 < first_length < bar else Fraction(0)
    events: list[list] = []  # [start, end, midi pitch] in quarters from the padded song start
    for index, measure in enumerate(measures):
        length = Fraction(measure.duration.quarterLength)
        if _is_lead_in(measures, index, position, bar):
            # A pickup to the next section written after a complete bar ("... A2 || B2 | Aaa..."):
            # as played, it takes the place of the end of that bar.
            position -= length
            events = [[start, min(end, position), pitch] for start, end, pitch in events if start < position]
        elif length and length % bar == 0 and position % bar != 0:
            where = f"{float(position % bar):g} quarters"
            raise SongSkipped("irregular bars", f"bar {measure.number} starts {where} off the {meter} grid")
        for element in measure.flatten().notes:
            _add_event(events, position + Fraction(element.offset), element)
        position += length
    return meter, [(start, end, pitch) for start, end, pitch in events]


def _is_lead_in(measures, index: int, position: Fraction, bar: Fraction) -> bool:
    """A short bar that opens a section (after a double bar or a repeat sign) right after a
    complete bar, and is followed by a complete bar: the new section's pickup (``bar``: the bar
    length in quarters)."""
    length = Fraction(measures[index].duration.quarterLength)
    if index == 0 or index + 1 >= len(measures) or not 0 < length < bar:
        return False
    previous, following = measures[index - 1], measures[index + 1]
    section_end = _is_section_line(previous.rightBarline) or _is_section_line(measures[index].leftBarline)
    following_length = Fraction(following.duration.quarterLength)
    return (
        section_end
        and position % bar == 0
        and Fraction(previous.duration.quarterLength) >= length
        and following_length > 0
        and following_length % bar == 0
    )


def _is_section_line(barline) -> bool:
    return barline is not None and getattr(barline, "type", "regular") not in ("regular", "dashed", "dotted", "none")


def _earlier_ending_measures(part) -> set[int]:
    """ids of the measures of first (non-final) endings: ``|1 ... :|2 ...`` keeps only ending 2.

    Repeats are not played out (music21's expandRepeats misreads many ABC repeat layouts), so the
    melody is the written one, taking the last ending of each volta: the path of the final pass.
    """
    brackets = sorted(
        (bracket for bracket in part.spannerBundle.getByClass("RepeatBracket") if bracket.getSpannedElements()),
        key=lambda bracket: bracket.getFirst().offset,
    )
    skipped: set[int] = set()
    for bracket, following in zip(brackets, brackets[1:]):
        last = bracket.getLast()
        if following.getFirst().offset == last.offset + last.duration.quarterLength:
            skipped.update(id(measure) for measure in bracket.getSpannedElements())
    return skipped


def _add_event(events: list[list], start: Fraction, element) -> None:
    """Append a note or chord: ties merged into the note they continue, chords to their top note,
    grace notes and chord symbols dropped."""
    from music21 import harmony

    if isinstance(element, harmony.Harmony) or element.duration.isGrace:
        return
    length = Fraction(element.duration.quarterLength)
    if length <= 0:
        return
    pitch = max(p.midi for p in element.pitches)
    tie = element.tie.type if element.tie is not None else None
    if tie in ("stop", "continue") and events and events[-1][2] == pitch and events[-1][1] == start:
        events[-1][1] = start + length
        return
    events.append([start, start + length, pitch])
