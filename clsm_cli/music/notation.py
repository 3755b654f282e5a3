"""The measure model both notation writers share (MusicXML and ABC): pure, no file formats here.

A track's notes (in ticks) become a :class:`Score`: measures exactly as ``clsm show`` counts the
bars, each holding one or more voices of :class:`Piece` values that a score editor can draw as
they are.

* **Time.** Onsets and ends are quantized per quarter-note beat to 16ths, or to 8th-note triplets
  where that moves the beat's onsets and releases less (:func:`quantize_to_beat_grid`, the one
  rule, the triplet time base's; ties go to 16ths; triplets only in meters counted in quarters). Positions are counted in divisions, ``DIVISIONS_PER_QUARTER`` = 12, which holds both
  grids. A note that quantizes to nothing lasts one grid step; a pitch struck twice at one onset
  is one note, the longer.
* **Voices.** Notes sharing an onset and an end form a chord. Voice 1 is the top line (the top
  voice's rule, ``voices.top_voice_mask``) wherever it does not overlap itself; every other note
  goes to the first lower voice free at its onset. No note is shortened to fit a voice.
* **Measures.** Notes are split at bar lines into tied pieces, and inside a bar into values with
  dots (a greedy split that keeps longer values on the beat); a beat on the triplet grid becomes a
  3:2 tuplet. Voice 1 fills every measure with rests (a whole-bar rest is one measure rest); lower
  voices appear, filled with rests, in the measures where they play. A short first bar is a pickup.
  A bar cut short by a time-signature change gets a time signature of its own length.
* **Marks.** The key (a :class:`~clsm_cli.music.key.Key`), a tempo mark at the first bar and
  wherever the tempo changes by more than 10 % for at least a bar, and the edited bars ("new").
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Iterable, Optional, Sequence

from clsm_cli.music.bars import Bar, BarRange
from clsm_cli.music.key import Key, song_key
from clsm_cli.music.voices import top_voice_mask

if TYPE_CHECKING:
    from clsm_cli.music.song import MidiSong, MidiTrack

DIVISIONS_PER_QUARTER = 12  # holds both 16ths (3) and 8th-note triplets (4)
SIXTEENTH = 3
TRIPLET_EIGHTH = 4
DIVISIONS_PER_SIXTEENTH_STEP = SIXTEENTH  # a song step (``Bar.steps``) is a 16th
EARLY_BY = Fraction(1, 2 * DIVISIONS_PER_QUARTER)  # an event this early (in quarters) belongs to the next beat
TEMPO_CHANGE_SHARE = 0.10  # a later tempo is marked when it differs by more than this and lasts a bar

# Notatable values in divisions, longest first: (divisions, type, dots).
NOTE_VALUES: tuple[tuple[int, str, int], ...] = (
    (72, "whole", 1), (48, "whole", 0), (36, "half", 1), (24, "half", 0), (18, "quarter", 1),
    (12, "quarter", 0), (9, "eighth", 1), (6, "eighth", 0), (3, "16th", 0),
)
TRIPLET_VALUES = {TRIPLET_EIGHTH: "eighth", 2 * TRIPLET_EIGHTH: "quarter"}  # under a 3:2 bracket


# --- time: the beat grid ----------------------------------------------------------------------------


def _round_half_up(value: Fraction) -> int:
    return math.floor(value + Fraction(1, 2))


def _snap(offset: Fraction, grid: int) -> int:
    """``offset`` (quarters) to the nearest multiple of ``grid`` divisions, in divisions."""
    return _round_half_up(offset * DIVISIONS_PER_QUARTER / grid) * grid


def _beat_of(offset: Fraction, beats: int) -> int:
    """The quarter an event belongs to: the one it is nearest to starting in (an event up to half
    a division before a quarter starts belongs to that quarter)."""
    return min(max(0, math.floor(offset + EARLY_BY)), beats - 1)


def quantize_to_beat_grid(bar_quarters: Fraction, events: Sequence[Fraction], triplets: bool = True) -> list[int]:
    """The grid of each quarter-note beat of a bar: ``SIXTEENTH`` or ``TRIPLET_EIGHTH`` divisions.

    ``events`` are the onsets and releases in the bar, as offsets in quarter notes from its bar
    line. A beat takes the 8th-note triplet grid when that moves its events less in total than the
    16th grid does (a tie keeps 16ths); a beat with no event, a part beat at the end of a bar (3/8,
    a bar cut short) and every beat of a bar without ``triplets`` (meters not counted in quarters:
    6/8, 9/8) keep 16ths. Pure; the rule of the triplet time base (``music/triplets.py`` on the
    time-base branch: each quarter on the grid that moves its events least).
    """
    beats = max(1, math.ceil(bar_quarters))
    moved = [[Fraction(0), Fraction(0)] for _ in range(beats)]  # [16ths, triplets] per beat
    for event in events:
        beat = _beat_of(event, beats)
        for index, grid in enumerate((SIXTEENTH, TRIPLET_EIGHTH)):
            offset = event - beat  # within the beat: 0 .. 1 (a little below 0 for an early event)
            moved[beat][index] += abs(offset * DIVISIONS_PER_QUARTER - _snap(offset, grid))
    return [
        TRIPLET_EIGHTH if triplets and beat + 1 <= bar_quarters and triplet_cost < sixteenth_cost else SIXTEENTH
        for beat, (sixteenth_cost, triplet_cost) in enumerate(moved)
    ]


@dataclass(frozen=True)
class GridNote:
    """A note in divisions from the start of the first notated bar."""

    start: int
    end: int
    pitch: int


@dataclass(frozen=True)
class _BarGrid:
    bar: Bar
    start: int  # divisions
    length: int  # divisions
    grids: tuple[int, ...]  # per beat

    def position(self, tick: int, ticks_per_beat: int) -> int:
        offset = Fraction(tick - self.bar.start_tick, ticks_per_beat)
        beat = _beat_of(offset, len(self.grids))
        on_grid = beat * DIVISIONS_PER_QUARTER + _snap(offset - beat, self.grids[beat])
        return self.start + min(max(0, on_grid), self.length)

    def step_at(self, position: int) -> int:
        beat = min((position - self.start) // DIVISIONS_PER_QUARTER, len(self.grids) - 1)
        return self.grids[beat]


def _bar_index(bars: Sequence[Bar], tick: int) -> int:
    """The index of the bar holding ``tick`` (0 before the first bar, the last after the last)."""
    return max(0, bisect.bisect_right(bars, tick, key=lambda bar: bar.start_tick) - 1)


def quantize_notes(notes: Iterable[tuple[int, int, int]], bars: Sequence[Bar], ticks_per_beat: int
                   ) -> tuple[list[GridNote], tuple[_BarGrid, ...]]:
    """(start tick, end tick, pitch) notes on the beat grid of ``bars`` (see the module docstring).

    Notes are counted from the first bar; those starting outside the bars are left out and ends
    past the last bar are cut there. Returns the notes by (start, -pitch) and each bar's grid.
    """
    notes = [(int(s), int(e), int(p)) for s, e, p in notes]
    by_bar: list[list[Fraction]] = [[] for _ in bars]
    first_tick, end_tick = bars[0].start_tick, bars[-1].end_tick
    inside = [note for note in notes if first_tick <= note[0] < end_tick]
    for start, end, _ in inside:
        for tick in (start, end) if end < end_tick else (start,):
            index = _bar_index(bars, tick)
            by_bar[index].append(Fraction(tick - bars[index].start_tick, ticks_per_beat))
    grids, position = [], 0
    for bar, events in zip(bars, by_bar):
        length = bar.steps * DIVISIONS_PER_SIXTEENTH_STEP
        quarters = Fraction(length, DIVISIONS_PER_QUARTER)
        beat_grids = quantize_to_beat_grid(quarters, events, bar.time_signature.is_simple_quarter_meter)
        grids.append(_BarGrid(bar, position, length, tuple(beat_grids)))
        position += length
    longest: dict[tuple[int, int], int] = {}
    for start_tick, end_tick_of_note, pitch in inside:
        start = grids[_bar_index(bars, start_tick)].position(start_tick, ticks_per_beat)
        if start >= position:
            continue  # rounded onto the last bar line: past the notated bars
        if end_tick_of_note >= end_tick:
            end = position
        else:
            end = grids[_bar_index(bars, end_tick_of_note)].position(end_tick_of_note, ticks_per_beat)
        if end <= start:
            end = start + grids[_bar_index_of_position(grids, start)].step_at(start)
        key = (start, pitch)
        longest[key] = max(longest.get(key, 0), end)
    quantized = [GridNote(start, end, pitch) for (start, pitch), end in longest.items()]
    quantized.sort(key=lambda note: (note.start, -note.pitch))
    return quantized, tuple(grids)


def _bar_index_of_position(grids: Sequence[_BarGrid], position: int) -> int:
    """The index of the bar holding a position in divisions."""
    return max(0, bisect.bisect_right(grids, position, key=lambda grid: grid.start) - 1)


# --- voices -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Chord:
    """Notes sharing an onset and an end (one note is a chord of one), in one voice."""

    start: int
    end: int
    pitches: tuple[int, ...]  # highest first
    voice: int  # 1 is the top line


def assign_voices(notes: Sequence[GridNote]) -> list[Chord]:
    """Chords in voices (see the module docstring): voice 1 the top line, lower voices the rest."""
    groups: dict[tuple[int, int], list[int]] = {}
    for note in notes:
        groups.setdefault((note.start, note.end), []).append(note.pitch)
    spans = sorted(groups, key=lambda span: (span[0], -max(groups[span]), -span[1]))
    is_top = top_voice_mask([s for s, _ in spans], [e for _, e in spans], [max(groups[span]) for span in spans])
    voice_ends = [0]  # per voice, where its last chord ends; voice 1 (index 0) is the top line's
    chords = []
    for (start, end), top in zip(spans, is_top):
        candidates = range(len(voice_ends)) if top else range(1, len(voice_ends))
        voice = next((v for v in candidates if voice_ends[v] <= start), None)
        if voice is None:
            voice_ends.append(0)
            voice = len(voice_ends) - 1
        voice_ends[voice] = end
        chords.append(Chord(start, end, tuple(sorted(groups[(start, end)], reverse=True)), voice + 1))
    return chords


# --- measures and pieces -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Piece:
    """One drawn note, chord or rest of a measure: a notatable value, tied or under a 3:2 bracket."""

    start: int  # divisions from the measure's start
    duration: int  # divisions
    pitches: tuple[int, ...]  # highest first; () is a rest
    note_type: str  # "whole", "half", "quarter", "eighth", "16th" ("" for a measure rest)
    dots: int = 0
    tie_stop: bool = False  # continues the piece before it (same pitches)
    tie_start: bool = False  # goes on in the piece after it
    triplet: bool = False  # under a 3:2 bracket
    tuplet: Optional[str] = None  # "start" or "stop" of the bracket
    measure_rest: bool = False
    marked: bool = False  # a note of the edited bars

    @property
    def is_rest(self) -> bool:
        return not self.pitches


@dataclass(frozen=True)
class Measure:
    number: int  # as clsm show counts the bars
    length: int  # divisions
    time_signature: Optional[tuple[int, int]]  # shown here (first measure and changes), else None
    pickup: bool
    tempo: Optional[float]  # a metronome mark (quarter notes per minute) at the start
    new_label: bool  # the first of a run of edited bars: a "new" direction
    voices: tuple[tuple[Piece, ...], ...]  # voice 1 first; a lower voice absent here is ()


@dataclass(frozen=True)
class Score:
    title: str
    part_name: str
    key: Optional[Key]
    measures: tuple[Measure, ...]
    notes: tuple[GridNote, ...]  # what the score holds, before splitting (for tests and summaries)
    lower_notes: int  # notes outside voice 1's top line (ABC leaves them out)


def _is_compound(time_signature: tuple[int, int]) -> bool:
    numerator, denominator = time_signature
    return denominator >= 8 and numerator % 3 == 0 and numerator > 3


def _value_fits(start: int, value: int, compound: bool) -> bool:
    """Whether a value may start at ``start`` (divisions from the bar line): a quarter or longer
    on a beat in simple meters; in compound meters (6/8, 9/8, 12/8) dotted quarters and longer on a
    dotted-quarter beat, a quarter inside one beat, and no plain half or whole (they blur the beats).
    A value shorter than a quarter stays inside its beat."""
    beat = 18 if compound else 12
    if value < 12:
        return start % beat + value <= beat
    if not compound:
        return start % 12 == 0
    if value % beat == 0:
        return start % beat == 0
    return value == 12 and start % beat + value <= beat


def split_value(start: int, duration: int, compound: bool) -> list[tuple[int, int, str, int]]:
    """A span of 16th-grid divisions as notatable values, left to right: (start, length, type, dots).

    Greedy: the longest value that fits and may start where it would (:func:`_value_fits`)."""
    pieces = []
    while duration > 0:
        for value, note_type, dots in NOTE_VALUES:
            if value <= duration and _value_fits(start, value, compound):
                break
        else:  # pragma: no cover - 3 divides every span on the 16th grid
            raise ValueError(f"{duration} divisions do not fit the 16th grid")
        pieces.append((start, value, note_type, dots))
        start += value
        duration -= value
    return pieces


def _measure_pieces(events: Sequence[tuple[int, int, tuple[int, ...], bool, bool, bool]], length: int,
                    time_signature: tuple[int, int], voice: int) -> tuple[Piece, ...]:
    """A voice's events in one measure (start, end, pitches, tie_stop, tie_start, marked; rests
    filled in here) as pieces."""
    filled, position = [], 0
    for event in sorted(events):
        if event[0] > position:
            filled.append((position, event[0], (), False, False, False))
        filled.append(event)
        position = event[1]
    if position < length:
        filled.append((position, length, (), False, False, False))
    numerator, denominator = time_signature
    full_bar = length * denominator == numerator * 4 * DIVISIONS_PER_QUARTER  # not a pickup (a reader fills a whole-measure rest)
    if voice == 1 and len(filled) == 1 and not filled[0][2] and full_bar:
        return (Piece(0, length, (), "", measure_rest=True),)
    boundaries = {b for event in filled for b in event[:2]}
    triplet_beats = {b // DIVISIONS_PER_QUARTER for b in boundaries if b % SIXTEENTH}
    pieces: list[Piece] = []
    compound = _is_compound(time_signature)
    for start, end, pitches, tie_stop, tie_start, marked in filled:
        cuts = sorted({start, end} | {beat * DIVISIONS_PER_QUARTER + edge for beat in triplet_beats
                                       for edge in (0, DIVISIONS_PER_QUARTER)
                                       if start < beat * DIVISIONS_PER_QUARTER + edge < end})
        parts = []
        for left, right in zip(cuts, cuts[1:]):
            if left // DIVISIONS_PER_QUARTER in triplet_beats:
                parts.append((left, right - left, TRIPLET_VALUES[right - left], 0, True))
            else:
                parts.extend((s, d, t, dots, False) for s, d, t, dots in split_value(left, right - left, compound))
        for index, (piece_start, duration, note_type, dots, triplet) in enumerate(parts):
            tied = bool(pitches)
            pieces.append(Piece(
                piece_start, duration, pitches, note_type, dots,
                tie_stop=tied and (index > 0 or tie_stop), tie_start=tied and (index < len(parts) - 1 or tie_start),
                triplet=triplet, marked=marked and tied,
            ))
    return tuple(_with_brackets(pieces))


def _with_brackets(pieces: list[Piece]) -> list[Piece]:
    """Open and close a 3:2 bracket around each beat's triplet pieces."""
    out = list(pieces)
    for index, piece in enumerate(out):
        if not piece.triplet:
            continue
        beat = piece.start // DIVISIONS_PER_QUARTER
        previous = index > 0 and out[index - 1].triplet and out[index - 1].start // DIVISIONS_PER_QUARTER == beat
        following = index + 1 < len(out) and out[index + 1].triplet and \
            out[index + 1].start // DIVISIONS_PER_QUARTER == beat
        edge = None if previous and following else "start" if not previous else "stop"
        out[index] = Piece(piece.start, piece.duration, piece.pitches, piece.note_type, piece.dots, piece.tie_stop,
                           piece.tie_start, True, edge, piece.measure_rest, piece.marked)
    return out


def measure_time_signature(bar: Bar) -> tuple[int, int]:
    """The time signature a bar's measure shows: its own, or for a bar cut short, its length."""
    if bar.is_complete:
        return bar.meter
    steps = bar.steps
    return (steps // 4, 4) if steps % 4 == 0 else (steps // 2, 8) if steps % 2 == 0 else (steps, 16)


def tempo_marks(tempos: Sequence[tuple[int, int]], bars: Sequence[Bar]) -> dict[int, float]:
    """Bar number -> quarter notes per minute: the tempo at the first bar, then each later tempo
    that differs from the last mark by more than ``TEMPO_CHANGE_SHARE`` and lasts at least the bar
    it starts in (placed at that bar)."""
    changes = sorted(tempos) or [(0, 500_000)]

    def bpm(microseconds: int) -> float:
        return round(60_000_000 / microseconds, 2)

    first = bars[0]
    current = [value for tick, value in changes if tick <= first.start_tick]
    marks = {first.number: bpm(current[-1] if current else changes[0][1])}
    last_mark = marks[first.number]
    for index, (tick, value) in enumerate(changes):
        if tick <= first.start_tick or tick >= bars[-1].end_tick:
            continue
        until = changes[index + 1][0] if index + 1 < len(changes) else bars[-1].end_tick
        bar = bars[_bar_index(bars, tick)]
        if abs(bpm(value) - last_mark) > TEMPO_CHANGE_SHARE * last_mark and until - tick >= bar.length_ticks:
            marks[bar.number] = bpm(value)
            last_mark = bpm(value)
    return marks


def build_score(notes: Iterable[tuple[int, int, int]], bars: Sequence[Bar], ticks_per_beat: int,
                tempos: Sequence[tuple[int, int]], key: Optional[Key], title: str, part_name: str,
                marked_bars: Iterable[int] = (), shown: Optional[BarRange] = None) -> Score:
    """The score of a track's ``notes`` ((start tick, end tick, pitch)) over ``bars`` (all of the
    song's, numbered from 1), or only the ``shown`` ones. ``marked_bars`` are the edited bars."""
    shown = shown or BarRange(1, len(bars))
    notated = list(bars[shown.first - 1 : shown.last])
    quantized, grids = quantize_notes(notes, notated, ticks_per_beat)
    chords = assign_voices(quantized)
    marked = frozenset(marked_bars)
    voice_count = max((chord.voice for chord in chords), default=1)
    by_measure: list[list[list]] = [[[] for _ in range(voice_count)] for _ in notated]
    for chord in chords:
        index = _bar_index_of_position(grids, chord.start)
        chord_marked = notated[index].number in marked and chord.voice == 1
        start = chord.start
        while start < chord.end:
            grid = grids[index]
            end = min(chord.end, grid.start + grid.length)
            by_measure[index][chord.voice - 1].append(
                (start - grid.start, end - grid.start, chord.pitches, start > chord.start, end < chord.end,
                 chord_marked))
            start, index = end, index + 1
    pickup = shown.first == 1 and len(bars) > 1 and bars[0].steps < bars[1].steps
    marks = tempo_marks(tempos, notated)
    measures, shown_signature = [], None
    for index, (bar, grid, voices) in enumerate(zip(notated, grids, by_measure)):
        is_pickup = pickup and index == 0
        signature = bars[1].meter if is_pickup else measure_time_signature(bar)
        pieces = tuple(
            _measure_pieces(events, grid.length, signature, number) if events or number == 1 else ()
            for number, events in enumerate(voices, start=1)
        )
        measures.append(Measure(
            bar.number, grid.length, signature if signature != shown_signature else None, is_pickup,
            marks.get(bar.number), bar.number in marked and bar.number - 1 not in marked, pieces,
        ))
        shown_signature = signature
    lower = sum(len(chord.pitches) - (1 if chord.voice == 1 else 0) for chord in chords)
    return Score(title, part_name, key, tuple(measures), tuple(quantized), lower)


def track_score(song: "MidiSong", track: "MidiTrack", bars: Sequence[Bar], title: str,
                marked_bars: Iterable[int] = (), shown: Optional[BarRange] = None) -> Score:
    """The score of one track of a song read by ``midi_read``: its notes over ``bars`` (the song's
    bars as ``clsm show`` counts them, ``--meter`` included) or the ``shown`` ones, the song's key
    over those bars (``key.song_key``: the file's signature when it holds the notes, else the
    estimate), its tempo map, and the track's name (its label when it has none)."""
    shown = shown or BarRange(1, len(bars))
    start_tick, end_tick = shown.tick_span(bars)
    key = song_key(song, start_tick, end_tick)
    notes = [(note.start_tick, note.end_tick, note.pitch) for note in track.notes]
    return build_score(notes, bars, song.ticks_per_beat, song.tempos, key, title, track.label, marked_bars, shown)
