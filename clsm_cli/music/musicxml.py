"""MusicXML (uncompressed, partwise, version 4.0) of a :class:`~clsm_cli.music.notation.Score`.

Written by hand on the standard library (``xml.etree``), so no dependency comes with it. One part:
the track, named after it; 12 divisions per quarter note (16ths and 8th-note triplets); the key
signature, clef, time signatures (at the first measure and where they change), metronome marks;
a pickup as an implicit measure; notes that share an onset and a duration as ``<chord/>``; lower
voices after a ``<backup>``; ties as one start/stop pair per bar line or split; 3:2 tuplets; an
accidental wherever the key signature and the bar so far do not already give the note its pitch.
The edited bars carry a "new" text direction and coloured notes. Pure: a string out.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Optional

from clsm_cli import __version__
from clsm_cli.music.key import Key
from clsm_cli.music.notation import DIVISIONS_PER_QUARTER, Measure, Piece, Score

NEW_COLOUR = "#D0205E"  # the edited bars' notes and their "new" mark
ACCIDENTAL_NAMES = {-2: "flat-flat", -1: "flat", 0: "natural", 1: "sharp", 2: "double-sharp"}
XML_MODES = {"harmonic-minor": "minor", "melodic-minor": "minor"}  # MusicXML names no minor variants
C_MAJOR = Key.of(0, "major")  # spells a part without a key (no notes)
BASS_CLEF_BELOW = 55  # a part whose notes lie mostly below G3 reads in the bass clef
DOCTYPE = ('<!DOCTYPE score-partwise PUBLIC "-//Recordare//DTD MusicXML 4.0 Partwise//EN" '
           '"http://www.musicxml.org/dtds/partwise.dtd">')


def _text(parent: ET.Element, tag: str, text: object, **attributes: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attributes)
    element.text = str(text)
    return element


def _number(value: float) -> str:
    return f"{value:g}"


def _spell(key: Optional[Key], pitch: int) -> tuple[str, int, int]:
    return (key or C_MAJOR).spell(pitch)


def shown_accidentals(measure: Measure, key: Optional[Key]) -> dict[tuple[int, int, int], int]:
    """(voice, piece index, pitch index) -> the accidental to print, for the notes whose pitch the
    key signature and the bar so far (per letter and octave, across voices, in time order) do not
    already give. A tied continuation prints none and changes nothing."""
    implied: dict[tuple[str, int], int] = {}
    shown = {}
    heads = sorted(
        (piece.start, voice, index, position, pitch)
        for voice, pieces in enumerate(measure.voices, start=1)
        for index, piece in enumerate(pieces) if not piece.tie_stop
        for position, pitch in enumerate(piece.pitches)
    )
    for _, voice, index, position, pitch in heads:
        letter, alter, octave = _spell(key, pitch)
        before = implied.get((letter, octave), key.signature_alter(letter) if key else 0)
        implied[(letter, octave)] = alter
        if before != alter:
            shown[(voice, index, position)] = alter
    return shown


def _attributes(measure: Measure, score: Score, first: bool, clef: tuple[str, int]) -> Optional[ET.Element]:
    if not first and measure.time_signature is None:
        return None
    attributes = ET.Element("attributes")
    if first:
        _text(attributes, "divisions", DIVISIONS_PER_QUARTER)
        key = ET.SubElement(attributes, "key")
        _text(key, "fifths", score.key.fifths if score.key else 0)
        if score.key is not None:
            _text(key, "mode", XML_MODES.get(score.key.mode, score.key.mode))
    if measure.time_signature is not None:
        time = ET.SubElement(attributes, "time")
        _text(time, "beats", measure.time_signature[0])
        _text(time, "beat-type", measure.time_signature[1])
    if first:
        clef_element = ET.SubElement(attributes, "clef")
        _text(clef_element, "sign", clef[0])
        _text(clef_element, "line", clef[1])
    return attributes


def _direction(measure_element: ET.Element, placement: str = "above") -> ET.Element:
    direction = ET.SubElement(measure_element, "direction", placement=placement)
    return ET.SubElement(direction, "direction-type")


def _metronome(measure_element: ET.Element, bpm: float) -> None:
    direction_type = _direction(measure_element)
    metronome = ET.SubElement(direction_type, "metronome")
    _text(metronome, "beat-unit", "quarter")
    _text(metronome, "per-minute", _number(round(bpm)))
    ET.SubElement(measure_element[-1], "sound", tempo=_number(bpm))


def _new_mark(measure_element: ET.Element) -> None:
    _text(_direction(measure_element), "words", "new", color=NEW_COLOUR)


def _piece_notes(parent: ET.Element, piece: Piece, voice: int, index_in_voice: int, key: Optional[Key],
                 accidentals: dict[tuple[int, int, int], int]) -> None:
    """One piece as ``<note>`` elements: a rest, a note, or a chord (``<chord/>`` after the first)."""
    pitches = piece.pitches or (None,)
    for index, pitch in enumerate(pitches):
        note = ET.SubElement(parent, "note", {"color": NEW_COLOUR} if piece.marked else {})
        if index > 0:
            ET.SubElement(note, "chord")
        accidental = None
        if pitch is None:
            ET.SubElement(note, "rest", {"measure": "yes"} if piece.measure_rest else {})
        else:
            letter, alter, octave = _spell(key, pitch)
            element = ET.SubElement(note, "pitch")
            _text(element, "step", letter)
            if alter:
                _text(element, "alter", alter)
            _text(element, "octave", octave)
            accidental = accidentals.get((voice, index_in_voice, index))
        _text(note, "duration", piece.duration)
        ties = [kind for kind, present in (("stop", piece.tie_stop), ("start", piece.tie_start)) if present]
        for kind in ties:
            ET.SubElement(note, "tie", type=kind)
        _text(note, "voice", voice)
        if piece.note_type:
            _text(note, "type", piece.note_type)
        for _ in range(piece.dots):
            ET.SubElement(note, "dot")
        if accidental is not None:
            _text(note, "accidental", ACCIDENTAL_NAMES[accidental])
        if piece.triplet:
            modification = ET.SubElement(note, "time-modification")
            _text(modification, "actual-notes", 3)
            _text(modification, "normal-notes", 2)
        if ties or (piece.tuplet and index == 0):
            notations = ET.SubElement(note, "notations")
            for kind in ties:
                ET.SubElement(notations, "tied", type=kind)
            if piece.tuplet and index == 0:
                ET.SubElement(notations, "tuplet", {"type": piece.tuplet, "bracket": "yes"})


def _clef(score: Score) -> tuple[str, int]:
    pitches = sorted(note.pitch for note in score.notes)
    if pitches and pitches[len(pitches) // 2] < BASS_CLEF_BELOW:
        return ("F", 4)
    return ("G", 2)


def score_to_musicxml(score: Score) -> str:
    """The score as a MusicXML document (text, UTF-8 declared)."""
    root = ET.Element("score-partwise", version="4.0")
    work = ET.SubElement(root, "work")
    _text(work, "work-title", score.title)
    identification = ET.SubElement(root, "identification")
    encoding = ET.SubElement(identification, "encoding")
    _text(encoding, "software", f"clsm {__version__}")
    part_list = ET.SubElement(root, "part-list")
    score_part = ET.SubElement(part_list, "score-part", id="P1")
    _text(score_part, "part-name", score.part_name)
    part = ET.SubElement(root, "part", id="P1")
    clef = _clef(score)
    for index, measure in enumerate(score.measures):
        element = ET.SubElement(part, "measure", {"number": str(measure.number),
                                                  **({"implicit": "yes"} if measure.pickup else {})})
        attributes = _attributes(measure, score, index == 0, clef)
        if attributes is not None:
            element.append(attributes)
        if measure.tempo is not None:
            _metronome(element, measure.tempo)
        if measure.new_label:
            _new_mark(element)
        accidentals = shown_accidentals(measure, score.key)
        voices = [(number, pieces) for number, pieces in enumerate(measure.voices, start=1) if pieces]
        for position, (number, pieces) in enumerate(voices):
            if position > 0:
                backup = ET.SubElement(element, "backup")
                _text(backup, "duration", measure.length)
            for piece_index, piece in enumerate(pieces):
                _piece_notes(element, piece, number, piece_index, score.key, accidentals)
    ET.indent(root, space="  ")
    body = ET.tostring(root, encoding="unicode")
    return f'<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n{DOCTYPE}\n{body}\n'
