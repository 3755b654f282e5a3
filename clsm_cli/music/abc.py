"""ABC notation (2.1) of a :class:`~clsm_cli.music.notation.Score`: the tune's top line.

ABC is the text folk players share tunes in, and it holds one line of melody well: this writes
voice 1's top line (the highest note of each chord) and says so in an ``N:`` field when the part
has other notes. The header has the title, the track's name (a second ``T:``), the meter, unit
length 1/8, the tempo and the key; the body has one bar per measure, four to a line, with ties
(``-``), 3:2 triplets (``(3:2:n``), meter changes on a field line of their own (``M:3/4``), tempo changes inline (``[Q:1/4=90]``)
and a ``"^new"`` annotation at the first edited bar of each run. An accidental is written
wherever the key signature does not give the note its pitch, and again on any later note of that
letter in the bar, so the pitch never depends on how a reader carries accidentals. Pure: text out.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Optional

from clsm_cli.music.key import Key
from clsm_cli.music.notation import DIVISIONS_PER_QUARTER, Measure, Piece, Score

UNIT_DIVISIONS = DIVISIONS_PER_QUARTER // 2  # L:1/8
BARS_PER_LINE = 4
ACCIDENTALS = {-2: "__", -1: "_", 0: "=", 1: "^", 2: "^^"}
MODE_SUFFIXES = {"major": "", "minor": "m", "harmonic-minor": "m", "melodic-minor": "m", "dorian": "dor",
                 "phrygian": "phr", "lydian": "lyd", "mixolydian": "mix", "locrian": "loc"}
NOMINAL_DIVISIONS = {"whole": 48, "half": 24, "quarter": 12, "eighth": 6, "16th": 3}
C_MAJOR = Key.of(0, "major")
NEW_ANNOTATION = '"^new"'  # above the first note of each run of edited bars


def _length(divisions: Fraction | int) -> str:
    """A length in L:1/8 units as ABC writes it: "" (one unit), "2", "3/2", "/" (a half)."""
    units = Fraction(divisions) / UNIT_DIVISIONS
    if units == 1:
        return ""
    if units.denominator == 1:
        return str(units.numerator)
    if units.numerator == 1 and units.denominator == 2:
        return "/"
    return f"{units.numerator}/{units.denominator}"


def _written_divisions(piece: Piece) -> Fraction:
    """What the note is written as (a triplet eighth is written as an eighth under ``(3``)."""
    if piece.measure_rest or not piece.note_type:
        return Fraction(piece.duration)
    nominal = Fraction(NOMINAL_DIVISIONS[piece.note_type])
    return nominal * (2 - Fraction(1, 2) ** piece.dots)


def _pitch_text(letter: str, octave: int) -> str:
    if octave >= 5:
        return letter.lower() + "'" * (octave - 5)
    return letter + "," * (4 - octave)


def key_field(key: Optional[Key]) -> str:
    """``K:`` text: "Bb", "Em", "Ddor"; C major for a part without notes."""
    key = key or C_MAJOR
    return key.tonic_name + MODE_SUFFIXES[key.mode]


def _tempo_field(bpm: float) -> str:
    return f"Q:1/4={round(bpm)}"


def _bar_text(measure: Measure, key: Key) -> str:
    """One bar of voice 1's top line: each note or rest with what goes before it (the "new"
    annotation, a tuplet sign) and its tie."""
    tokens = []
    altered: set[str] = set()  # letters written with an accidental earlier in this bar
    pieces = measure.voices[0] if measure.voices else ()
    for index, piece in enumerate(pieces):
        prefix = NEW_ANNOTATION if measure.new_label and index == 0 else ""
        if piece.tuplet == "start":
            count = 1
            while index + count < len(pieces) and pieces[index + count - 1].tuplet != "stop":
                count += 1
            prefix += f"(3:2:{count}"
        length = _length(_written_divisions(piece))
        if piece.is_rest:
            tokens.append(prefix + "z" + length)
            continue
        letter, alter, octave = key.spell(piece.pitches[0])
        accidental = ""
        if alter != key.signature_alter(letter) or letter in altered:
            accidental = ACCIDENTALS[alter]
            altered.add(letter)
        tokens.append(prefix + accidental + _pitch_text(letter, octave) + length + ("-" if piece.tie_start else ""))
    return " ".join(tokens)


def score_to_abc(score: Score) -> str:
    """The score's top line as one ABC tune (text)."""
    key = score.key or C_MAJOR
    first = score.measures[0]
    lines = ["X:1", f"T:{score.title}"]
    if score.part_name and score.part_name != score.title:
        lines.append(f"T:{score.part_name}")
    if score.lower_notes:
        lines.append(f"N:the top line of a part with chords ({score.lower_notes} lower notes left out; "
                     "the MusicXML output has them)")
    signature = first.time_signature or (4, 4)
    lines += [f"M:{signature[0]}/{signature[1]}", "L:1/8"]
    if first.tempo is not None:
        lines.append(_tempo_field(first.tempo))
    lines.append(f"K:{key_field(score.key)}")
    body, line = [], []

    def end_line(last: bool) -> None:
        if line:
            body.append(" | ".join(line) + (" |]" if last else " |"))
            line.clear()

    for index, measure in enumerate(score.measures):
        if index > 0 and measure.time_signature is not None:
            # A meter change on a field line of its own (music21's reader ignores an inline [M:]).
            end_line(False)
            body.append(f"M:{measure.time_signature[0]}/{measure.time_signature[1]}")
        inline = f"[{_tempo_field(measure.tempo)}] " if index > 0 and measure.tempo is not None else ""
        line.append(inline + _bar_text(measure, key))
        if len(line) == BARS_PER_LINE:
            end_line(index == len(score.measures) - 1)
    end_line(True)
    return "\n".join(lines + body) + "\n"
