"""Reading notation back with music21 (the test extra), for the round-trip tests.

music21's ``stripTies`` does not join a tie from a measure with two voices into one with a
single voice, so ties are joined here: a note whose tie starts (or continues) goes on in the
next note of its pitch that starts where it ends.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter
from fractions import Fraction

DIVISIONS_PER_QUARTER = 12


def parse(text: str, kind: str):
    import music21

    return music21.converter.parseData(text, format=kind)


def joined_notes(stream) -> Counter:
    """(onset, pitch, duration) in divisions, ties joined, as a multiset."""
    heads = []
    for element in stream.flatten().notes:
        for pitch in element.pitches:
            tie = element.tie.type if element.tie is not None else None
            heads.append((Fraction(element.offset), pitch.midi, Fraction(element.quarterLength), tie))
    heads.sort(key=lambda head: (head[0], head[1]))
    notes, waiting = [], {}
    for onset, pitch, length, tie in heads:
        if tie in ("stop", "continue") and (pitch, onset) in waiting:
            note = waiting.pop((pitch, onset))
            note[2] += length
        else:
            note = [onset, pitch, length]
            notes.append(note)
        if tie in ("start", "continue"):
            waiting[(pitch, onset + length)] = note
    return Counter((onset * DIVISIONS_PER_QUARTER, pitch, length * DIVISIONS_PER_QUARTER)
                   for onset, pitch, length in notes)


def measure_lengths(stream) -> list[tuple[int, Fraction, Fraction]]:
    """(measure number, its duration, its time signature's bar) in quarters, per measure."""
    rows, signature = [], None
    for measure in stream.parts[0].getElementsByClass("Measure"):
        signature = measure.timeSignature or signature
        rows.append((measure.number, Fraction(measure.duration.quarterLength),
                     Fraction(signature.barDuration.quarterLength)))
    return rows


def tie_pairs_ok(musicxml: str) -> bool:
    """Every ``<tie type="start">`` is answered by exactly one ``stop`` on the next note of that
    pitch in that voice, and no ``stop`` comes without its ``start``."""
    root = ET.fromstring(musicxml.split("\n", 2)[2])
    open_ties: dict[tuple[str, str], bool] = {}
    for note in root.iter("note"):
        pitch = note.find("pitch")
        if pitch is None:
            continue
        key = (note.findtext("voice"), "".join(pitch.itertext()).strip())
        types = [tie.get("type") for tie in note.findall("tie")]
        if "stop" in types:
            if not open_ties.pop(key, False):
                return False
        elif open_ties.get(key):
            return False  # a started tie whose next note of that pitch does not stop it
        if "start" in types:
            open_ties[key] = True
    return not open_ties
