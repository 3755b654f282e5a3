"""Songs as musicians bring them, written in code for the melody-choice and top-voice tests.

Each builder returns a :class:`RealisticSong`: the MIDI bytes (written with mido through
``synthetic_midi.midi_factory``) and the notes of its melody as written, so a test can check what was found.
All songs are at 480 ticks per beat in 4/4, 16 bars, over the progression C - Am - F - G:

* :func:`pop_song`: drums on channel 10, "Bass" (GM program 34, "Electric Bass (finger)"),
  "Pad" (string chords), a "Lead Guitar" riff that plays only in bars 5-8 and 13-16 (and so has
  more notes than the melody), and the melody under a name of the caller's choosing ("Melody",
  "Vocal"...). Parts come in any order; type 0 (one chunk, no part names) or type 1.
* :func:`jazz_trio`: a walking bass named "Walk" (no bass program; optionally written two octaves
  up), piano comping and a "Tenor Sax" head.
* :func:`muted_guitar_song`: palm-muted 16th notes in F#2-G#3 under a "Melody".
* :func:`piano_song`: one "Piano" track, a tune in the right hand over left-hand triads, with a
  "Bass" and drums beside it.

``jitter`` moves every note-on and note-off by up to that many ticks either way (a seeded
``random.Random``), as a human player would; 0 keeps the grid exact.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from synthetic_midi.midi_factory import SongSpec, TrackSpec

TICKS_PER_BEAT = 480
EIGHTH = TICKS_PER_BEAT // 2
SIXTEENTH = TICKS_PER_BEAT // 4
BAR = 4 * TICKS_PER_BEAT
BARS = 16
DRUM_CHANNEL = 9

# C - Am - F - G, one chord a bar: the chord's pitch classes from C.
PROGRESSION = ((0, 4, 7), (9, 0, 4), (5, 9, 0), (7, 11, 2))
# The tune's rhythm, bar by bar in a 4-bar phrase: (start, length) in eighths; the last bar rests.
TUNE_RHYTHMS = (
    ((0, 2), (2, 1), (3, 1), (4, 3)),
    ((0, 1), (1, 1), (2, 2), (4, 2), (6, 2)),
    ((0, 3), (3, 1), (4, 4)),
    ((0, 2), (2, 2), (4, 2)),
)
TUNE_DEGREES = (4, 5, 4, 2, 0, 2, 4, 7, 5, 4, 2, 4, 5, 7, 9, 7, 5, 4, 2)  # steps of C major from C4
C_MAJOR = (0, 2, 4, 5, 7, 9, 11)

Note = tuple[int, int, int, int]  # (start_tick, end_tick, pitch, velocity)


@dataclass(frozen=True)
class RealisticSong:
    data: bytes
    melody_name: str  # the melody track's name ("" in a type-0 file, where parts have none)
    melody_notes: tuple[Note, ...]  # as written, sorted by start tick


def _scale_pitch(degree: int, base: int = 60) -> int:
    octave, step = divmod(degree, len(C_MAJOR))
    return base + 12 * octave + C_MAJOR[step]


def tune(bars: int = BARS, base: int = 60, velocity: int = 92) -> list[Note]:
    """A singable tune at and above C4 (base 60): 4-bar phrases that rest at their ends."""
    notes, index = [], 0
    for bar in range(bars):
        for start, length in TUNE_RHYTHMS[bar % 4]:
            pitch = _scale_pitch(TUNE_DEGREES[index % len(TUNE_DEGREES)], base)
            accented = velocity if start % 4 == 0 else velocity - 8  # beats 1 and 3 a little louder
            notes.append((bar * BAR + start * EIGHTH, bar * BAR + (start + length) * EIGHTH, pitch, accented))
            index += 1
    return notes


def _root(bar: int, octave_c: int) -> int:
    return octave_c + PROGRESSION[bar % 4][0]


def drums(bars: int = BARS) -> TrackSpec:
    notes = []
    for bar in range(bars):
        for eighth in range(8):
            tick = bar * BAR + eighth * EIGHTH
            notes.append((tick, tick + 60, 42, 70))  # closed hi-hat
            if eighth in (0, 4):
                notes.append((tick, tick + 120, 36, 110))  # kick
            if eighth in (2, 6):
                notes.append((tick, tick + 120, 38, 100))  # snare
    return TrackSpec(notes, channel=DRUM_CHANNEL, program=None, name="Drums")


def bass(bars: int = BARS, name: str = "Bass", program: int | None = 33, channel: int = 1) -> TrackSpec:
    """Root eighths around C2, the fifth on the last eighth."""
    notes = []
    for bar in range(bars):
        root = _root(bar, 36)
        for eighth in range(8):
            pitch = root + 7 if eighth == 7 else root
            tick = bar * BAR + eighth * EIGHTH
            notes.append((tick, tick + EIGHTH - 20, pitch, 96))
    return TrackSpec(notes, channel=channel, program=program, name=name)


def pad(bars: int = BARS, channel: int = 2) -> TrackSpec:
    """Whole-bar triads in C3-C5 on a string-ensemble program."""
    notes = []
    for bar in range(bars):
        for pitch_class in PROGRESSION[bar % 4]:
            pitch = 55 + (pitch_class - 7) % 12
            notes.append((bar * BAR, bar * BAR + BAR, pitch, 60))
    return TrackSpec(notes, channel=channel, program=48, name="Pad")


def lead_guitar(bars: int = BARS, channel: int = 3, playing_bars: tuple[int, ...] = (4, 5, 6, 7, 12, 13, 14, 15)):
    """A 16th-note overdriven riff around E4-E5, only in ``playing_bars`` (0-based): silent elsewhere."""
    riff = (64, 67, 69, 67, 72, 69, 67, 64, 67, 69, 72, 74, 76, 74, 72, 69)
    notes = []
    for bar in playing_bars:
        if bar < bars:
            for step, pitch in enumerate(riff):
                tick = bar * BAR + step * SIXTEENTH
                notes.append((tick, tick + SIXTEENTH - 10, pitch + PROGRESSION[bar % 4][0] % 5, 88))
    return TrackSpec(notes, channel=channel, program=29, name="Lead Guitar")


def jittered(notes: list[Note], jitter: int, rng: random.Random) -> list[Note]:
    """Every note-on and note-off moved by up to ``jitter`` ticks either way (never before tick 0,
    never shorter than 10 ticks)."""
    if not jitter:
        return list(notes)
    moved = []
    for start, end, pitch, velocity in notes:
        new_start = max(0, start + rng.randint(-jitter, jitter))
        new_end = max(new_start + 10, end + rng.randint(-jitter, jitter))
        moved.append((new_start, new_end, pitch, velocity))
    return moved


def _song(parts: dict[str, TrackSpec], order, melody_key: str, midi_type: int, jitter: int, seed: int):
    rng = random.Random(seed)
    specs = []
    for key in order:
        spec = parts[key]
        notes = jittered(list(spec.notes), jitter, rng)
        specs.append(TrackSpec(notes, channel=spec.channel, program=spec.program, name=spec.name))
    melody = specs[list(order).index(melody_key)]
    data = SongSpec(specs, ticks_per_beat=TICKS_PER_BEAT, midi_type=midi_type).to_bytes()
    name = melody.name if midi_type == 1 else ""
    return RealisticSong(data, name or "", tuple(sorted(melody.notes)))


POP_ORDER = ("drums", "bass", "pad", "lead_guitar", "melody")


def pop_song(
    melody_name: str = "Melody",
    order: tuple[str, ...] = POP_ORDER,
    midi_type: int = 1,
    jitter: int = 0,
    seed: int = 0,
    melody_program: int = 0,
    guitar_bars: tuple[int, ...] = (4, 5, 6, 7, 12, 13, 14, 15),
) -> RealisticSong:
    """A pop arrangement: drums, bass, pad, a lead guitar that plays only in ``guitar_bars``
    (0-based; by default it rests in bars 1-4 and 9-12), and the melody (channel 5,
    ``melody_program``) named ``melody_name``; parts in ``order``."""
    parts = {
        "drums": drums(),
        "bass": bass(),
        "pad": pad(),
        "lead_guitar": lead_guitar(playing_bars=guitar_bars),
        "melody": TrackSpec(tune(), channel=4, program=melody_program, name=melody_name),
    }
    return _song(parts, order, "melody", midi_type, jitter, seed)


def jazz_trio(walk_octave_shift: int = 0, jitter: int = 0, seed: int = 0) -> RealisticSong:
    """A walking bass "Walk" (quarter notes around C2, no program change, shifted by
    ``walk_octave_shift`` semitones), piano comping two chords a bar, and a "Tenor Sax" head that
    rests at phrase ends."""
    walk = []
    for bar in range(BARS):
        root = _root(bar, 36) + walk_octave_shift
        for beat, interval in enumerate((0, 4, 7, 9)):
            tick = bar * BAR + beat * TICKS_PER_BEAT
            walk.append((tick, tick + TICKS_PER_BEAT - 30, root + interval, 90))
    comping = []
    for bar in range(BARS):
        for offset in (TICKS_PER_BEAT + EIGHTH, 3 * TICKS_PER_BEAT):
            for pitch_class in PROGRESSION[bar % 4]:
                pitch = 52 + (pitch_class - 4) % 12
                comping.append((bar * BAR + offset, bar * BAR + offset + EIGHTH, pitch, 64))
    head = [note for note in tune(base=60) if (note[0] // BAR) % 4 != 3]  # sits out every 4th bar
    parts = {
        "walk": TrackSpec(walk, channel=0, program=None, name="Walk"),
        "piano": TrackSpec(comping, channel=1, program=0, name="Piano"),
        "sax": TrackSpec(head, channel=2, program=66, name="Tenor Sax"),
        "drums": drums(),
    }
    return _song(parts, ("walk", "piano", "sax", "drums"), "sax", 1, jitter, seed)


def muted_guitar_song(jitter: int = 0, seed: int = 0) -> RealisticSong:
    """Palm-muted 16th notes on the roots and fifths in F#2-G#3 ("Muted Gtr", GM program 29, "Electric
    Guitar (muted)") beside a "Melody" with fewer notes."""
    chug = []
    for bar in range(BARS):
        root = 42 + (PROGRESSION[bar % 4][0] - 6) % 12  # F#2..F3
        for step in range(16):
            tick = bar * BAR + step * SIXTEENTH
            pitch = min(root + 7, 56) if step % 4 == 3 else root
            chug.append((tick, tick + SIXTEENTH - 30, pitch, 80))
    parts = {
        "guitar": TrackSpec(chug, channel=0, program=28, name="Muted Gtr"),
        "melody": TrackSpec(tune(), channel=1, program=0, name="Melody"),
        "drums": drums(),
    }
    return _song(parts, ("guitar", "melody", "drums"), "melody", 1, jitter, seed)


def _left_hand_pitch(pitch_class: int) -> int:
    """C3 to G3, and A2 / B2 below them: a close triad under middle C."""
    return 48 + pitch_class if pitch_class < 8 else 36 + pitch_class


def piano_parts(bars: int = 8) -> tuple[list[Note], list[Note]]:
    """(right-hand tune, left-hand triads): the tune (G4-C6) has notes held across beat 3, where the
    left hand plays a new triad (C3-G3) that outlasts them; both hands start each bar together."""
    right, left = [], []
    rhythm = ((0, 3), (3, 3), (6, 2))  # in eighths: the second note is held across beat 3
    for bar in range(bars):
        chord = PROGRESSION[bar % 4]
        for number, (start, length) in enumerate(rhythm):
            pitch = _scale_pitch(4 + (bar + number) % 5, 67 - 7)  # G4 and up
            right.append((bar * BAR + start * EIGHTH, bar * BAR + (start + length) * EIGHTH, pitch, 84))
        for half in (0, 1):
            tick = bar * BAR + half * 2 * TICKS_PER_BEAT
            for pitch_class in chord:
                left.append((tick, tick + 2 * TICKS_PER_BEAT, _left_hand_pitch(pitch_class), 62))
    return right, left


def piano_song(jitter: int = 0, seed: int = 0, bars: int = 8) -> tuple[RealisticSong, list[Note], list[Note]]:
    """A "Piano" track (right-hand tune over left-hand triads) with a "Bass" and drums; also the
    two hands' notes as written (before any jitter)."""
    right, left = piano_parts(bars)
    parts = {
        "piano": TrackSpec(sorted(right + left), channel=0, program=0, name="Piano"),
        "bass": bass(bars),
        "drums": drums(bars),
    }
    return _song(parts, ("bass", "piano", "drums"), "piano", 1, jitter, seed), right, left
