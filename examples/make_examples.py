"""Write the example MIDI files in this folder from folk tunes bundled with music21.

    python examples/make_examples.py            # (re)write examples/*.mid
    python examples/make_examples.py --check    # verify the files here match what it would write

The tunes come from the Essen folk song collection in music21's corpus (see README.md here for
titles, provenance and licence). The shipped model is trained on that corpus with a song-level hash
split, so every example is a tune of the *test* split (``clsm_cli.data.splits``): the model has
never seen it. The script refuses to write a tune that is not.

How a tune becomes a file, the way ``clsm data build --corpus music21`` reads it: repeats are played
out, a pickup bar is padded with a rest at its start to a full bar (so bar lines fall where the
tune's do), ties are merged, and every note must sit on the 16th-note grid. The file is MIDI type 1:
a conductor track (title, provenance text, time signature, key signature, tempo) and one melody
track (flute, channel 1). Writing is deterministic: the same music21 version gives the same bytes.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import mido

EXAMPLES_DIR = Path(__file__).resolve().parent
TICKS_PER_QUARTER = 480
MELODY_PROGRAM = 73  # General MIDI "Flute"
MELODY_VELOCITY = 80
MODEL_PITCH_RANGE = (55, 84)  # the model's vocabulary (G3..C6); examples stay inside it unshifted
STEPS_PER_QUARTER = 4


@dataclass(frozen=True)
class Example:
    file_name: str
    corpus_path: str  # inside music21's corpus folder
    tune_number: int  # the tune's X: number in that file
    title: str  # the song's usual title (the corpus spells it in capitals, without umlauts)
    meter: str  # what the script expects, as a check
    bpm: int

    @property
    def identity(self) -> str:
        """The song identity ``clsm data build --corpus music21`` gives this tune."""
        return f"{self.corpus_path}#{self.tune_number}"


EXAMPLES = (
    Example("rot-sind-alle-meine-kleider.mid", "essenFolksong/erk30.abc", 521,
            "Rot, rot, rot sind alle meine Kleider", "4/4", 100),
    Example("es-wollt-ein-jaeger-jagen.mid", "essenFolksong/erk30.abc", 292,
            "Es wollt ein Jäger jagen", "4/4", 96),
    Example("hoert-ihr-herrn.mid", "essenFolksong/erk30.abc", 389,
            "Hört ihr Herrn und lasst euch sagen", "4/4", 84),
    # One tune per meter that has its own model (3/4, 6/8, 2/4), each from the test split.
    Example("zwischen-berg-und-tal-3-4.mid", "essenFolksong/erk10.abc", 299,
            "Zwischen Berg und tiefem, tiefem Tal", "3/4", 108),
    Example("das-jagen-6-8.mid", "essenFolksong/erk30.abc", 314,
            "Das Jagen, das ist ja mein Leben", "6/8", 100),
    Example("o-tannenbaum-2-4.mid", "essenFolksong/erk10.abc", 309,
            "O Tannenbaum", "2/4", 76),
)  # fmt: skip


@dataclass(frozen=True)
class TuneNotes:
    notes: list[tuple[int, int, int]]  # (start_step, end_step, midi_pitch), pickup padded
    numerator: int
    denominator: int
    bar_steps: int
    key: str | None  # a mido key name ("G", "Eb", "Em"), None when the tune declares none
    num_bars: int


def read_tune(example: Example) -> TuneNotes:
    """The tune's notes on the 16th grid, with repeats played out and the pickup padded."""
    from music21 import corpus

    score = corpus.parse(example.corpus_path, number=example.tune_number, forceSource=True)  # no cache files
    part = score.parts[0]
    try:
        part = part.expandRepeats()
    except Exception:  # noqa: BLE001 - no repeats, or marks music21 cannot expand: written order
        pass
    part = part.stripTies()
    signatures = {signature.ratioString for signature in part.recurse().getElementsByClass("TimeSignature")}
    if signatures != {example.meter}:
        raise SystemExit(f"{example.identity}: expected {example.meter}, found {sorted(signatures)}")
    numerator, denominator = (int(value) for value in example.meter.split("/"))
    bar_quarters = Fraction(4 * numerator, denominator)
    measures = list(part.getElementsByClass("Measure"))
    first_length = Fraction(measures[0].duration.quarterLength)
    padding = bar_quarters - first_length if 0 < first_length < bar_quarters else Fraction(0)

    notes = []
    for element in part.flatten().notes:
        if element.duration.isGrace:
            continue
        start = (Fraction(element.offset) + padding) * STEPS_PER_QUARTER
        end = start + Fraction(element.duration.quarterLength) * STEPS_PER_QUARTER
        if start.denominator != 1 or end.denominator != 1:
            raise SystemExit(f"{example.identity}: a note is off the 16th grid at quarter {element.offset}")
        notes.append((int(start), int(end), max(p.midi for p in element.pitches)))
    notes.sort()
    low, high = min(n[2] for n in notes), max(n[2] for n in notes)
    if not MODEL_PITCH_RANGE[0] <= low <= high <= MODEL_PITCH_RANGE[1]:
        raise SystemExit(f"{example.identity}: pitches {low}..{high} leave the model's range {MODEL_PITCH_RANGE}")
    if any(previous[1] > following[0] for previous, following in zip(notes, notes[1:])):
        raise SystemExit(f"{example.identity}: notes overlap; the examples must be single melodies")

    bar_steps = int(bar_quarters * STEPS_PER_QUARTER)
    num_bars = -(-notes[-1][1] // bar_steps)
    return TuneNotes(notes, numerator, denominator, bar_steps, _key_name(part), num_bars)


def _key_name(part) -> str | None:
    signatures = list(part.recurse().getElementsByClass("KeySignature"))
    if not signatures:
        return None
    key = signatures[0]
    if hasattr(key, "tonic") and getattr(key, "mode", None) in ("major", "minor"):
        name = key.tonic.name.replace("-", "b")
        return name + ("m" if key.mode == "minor" else "")
    major_by_sharps = {-7: "Cb", -6: "Gb", -5: "Db", -4: "Ab", -3: "Eb", -2: "Bb", -1: "F", 0: "C",
                       1: "G", 2: "D", 3: "A", 4: "E", 5: "B", 6: "F#", 7: "C#"}  # fmt: skip
    return major_by_sharps[key.sharps]


def build_file(example: Example, tune: TuneNotes) -> mido.MidiFile:
    ticks_per_step = TICKS_PER_QUARTER // STEPS_PER_QUARTER
    end_tick = tune.num_bars * tune.bar_steps * ticks_per_step  # the file ends on a bar line

    conductor = mido.MidiTrack()
    conductor.append(mido.MetaMessage("track_name", name=example.title, time=0))
    conductor.append(mido.MetaMessage("text", text=provenance(example), time=0))
    conductor.append(
        mido.MetaMessage("time_signature", numerator=tune.numerator, denominator=tune.denominator, time=0)
    )
    if tune.key is not None:
        conductor.append(mido.MetaMessage("key_signature", key=tune.key, time=0))
    conductor.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(example.bpm), time=0))
    conductor.append(mido.MetaMessage("end_of_track", time=end_tick))

    events = []  # (tick, order, message): at one tick a release comes before the next attack
    for start, end, pitch in tune.notes:
        events.append((start * ticks_per_step, 1, mido.Message("note_on", note=pitch, velocity=MELODY_VELOCITY)))
        events.append((end * ticks_per_step, 0, mido.Message("note_off", note=pitch, velocity=64)))
    melody = mido.MidiTrack()
    melody.append(mido.MetaMessage("track_name", name="Melody", time=0))
    melody.append(mido.Message("program_change", program=MELODY_PROGRAM, time=0))
    now = 0
    for tick, _, message in sorted(events, key=lambda event: (event[0], event[1])):
        melody.append(message.copy(time=tick - now))
        now = tick
    melody.append(mido.MetaMessage("end_of_track", time=end_tick - now))
    return mido.MidiFile(type=1, ticks_per_beat=TICKS_PER_QUARTER, tracks=[conductor, melody])


def provenance(example: Example) -> str:
    return (
        f"{example.title}. Traditional (public domain). Notes from music21's corpus, "
        f"{example.identity} (Essen folk song collection)."
    )


def file_bytes(midi_file: mido.MidiFile) -> bytes:
    import io

    buffer = io.BytesIO()
    midi_file.save(file=buffer)
    return buffer.getvalue()


def check_split(example: Example) -> str:
    """The split the data build puts this tune in; exits unless it is test."""
    sys.path.insert(0, str(EXAMPLES_DIR.parent))
    from clsm_cli.data.splits import split_of

    split = split_of(example.identity)
    if split != "test":
        raise SystemExit(f"{example.identity} is in the {split} split, not test: pick another tune")
    return split


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the files here; write nothing")
    args = parser.parse_args(argv)
    print(f"examples from music21's corpus into {EXAMPLES_DIR} ({TICKS_PER_QUARTER} ticks per quarter)")
    mismatches = 0
    for example in EXAMPLES:
        split = check_split(example)
        tune = read_tune(example)
        data = file_bytes(build_file(example, tune))
        path = EXAMPLES_DIR / example.file_name
        low, high = min(n[2] for n in tune.notes), max(n[2] for n in tune.notes)
        summary = (
            f"{example.file_name}: {example.identity} ({split} split), {example.meter}, "
            f"{tune.num_bars} bars, {len(tune.notes)} notes, pitches {low}..{high}"
        )
        if args.check:
            same = path.exists() and path.read_bytes() == data
            mismatches += not same
            print(("ok       " if same else "DIFFERS  ") + summary)
        else:
            path.write_bytes(data)
            print("wrote    " + summary)
    print(f"processed {len(EXAMPLES)} tunes" + (f", {mismatches} differ" if args.check else ""))
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
