"""Describe rendered infills for a listening check, and check that their WAVs sound the notes.

Reads the JSON that ``clsm infill --wav --json`` prints, and for every output prints the melody of
the bar before the target, the target bars and the bar after, as note names and rests with lengths in 16ths,
for the original and each infill (so a reader can follow what they hear). It then estimates the
pitch of every target note in the rendered WAV (harmonic product spectrum over the note's first
quarter second) and reports how many agree with the MIDI note, up to an octave: a check that the
audio really plays the written notes, not a judgement of how they sound.

    clsm infill examples/hoert-ihr-herrn.mid --bars 3-4 -n 2 --seed 7 --wav --json --out /tmp/l > /tmp/l/h.json
    python scripts/listening_check.py /tmp/l/h.json
"""

from __future__ import annotations

import argparse
import json
import sys
import wave
from pathlib import Path

import numpy as np
import pretty_midi

NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def note_name(pitch: int) -> str:
    return f"{NOTE_NAMES[pitch % 12]}{pitch // 12 - 1}"


def melody_notes(path: Path, track_index: int) -> tuple[list[pretty_midi.Note], pretty_midi.PrettyMIDI]:
    midi = pretty_midi.PrettyMIDI(str(path))
    instrument = midi.instruments[min(track_index, len(midi.instruments) - 1)]
    return sorted(instrument.notes, key=lambda note: note.start), midi


def bar_times(midi: pretty_midi.PrettyMIDI) -> np.ndarray:
    return np.asarray(midi.get_downbeats(), dtype=float)


def describe_bars(notes, midi, first_bar: int, last_bar: int) -> str:
    """'bar 2: G4 4, rest 2, A#4 2 | bar 3: ...' with lengths in 16ths (bars are 1-based)."""
    downbeats = bar_times(midi)
    sixteenth = 60.0 / midi.get_tempo_changes()[1][0] / 4
    parts = []
    for bar in range(first_bar, last_bar + 1):
        if bar - 1 >= len(downbeats):
            break
        start = downbeats[bar - 1]
        end = downbeats[bar] if bar < len(downbeats) else midi.get_end_time()
        inside = [note for note in notes if start - 1e-6 <= note.start < end - 1e-6]
        events, cursor = [], start
        for note in inside:
            if note.start - cursor > sixteenth / 2:
                events.append(f"rest {round((note.start - cursor) / sixteenth)}")
            events.append(f"{note_name(note.pitch)} {round((note.end - note.start) / sixteenth)}")
            cursor = note.end
        if end - cursor > sixteenth / 2:
            events.append(f"rest {round((end - cursor) / sixteenth)}")
        parts.append(f"bar {bar}: {', '.join(events)}")
    return " | ".join(parts)


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path)) as handle:
        rate, channels, width = handle.getframerate(), handle.getnchannels(), handle.getsampwidth()
        frames = handle.readframes(handle.getnframes())
    if width != 2:
        raise SystemExit(f"{path}: expected 16-bit PCM, got {8 * width}-bit")
    samples = np.frombuffer(frames, dtype="<i2").astype(np.float64).reshape(-1, channels).mean(axis=1)
    return samples / 32768.0, rate


def estimated_pitch(segment: np.ndarray, rate: int) -> int | None:
    """MIDI pitch of the strongest fundamental by harmonic product spectrum, None when silent."""
    if len(segment) < 256 or np.sqrt(np.mean(segment**2)) < 1e-3:
        return None
    size = 1 << 15
    spectrum = np.abs(np.fft.rfft(segment * np.hanning(len(segment)), n=size))
    product = spectrum.copy()
    for harmonic in (2, 3):
        decimated = spectrum[::harmonic]
        product[: len(decimated)] *= decimated
    frequencies = np.fft.rfftfreq(size, 1.0 / rate)
    band = (frequencies > 80) & (frequencies < 2000)
    peak = frequencies[band][np.argmax(product[band])]
    return int(round(69 + 12 * np.log2(peak / 440.0)))


def wav_agreement(wav_path: Path, notes, midi, first_bar: int, last_bar: int) -> tuple[int, int]:
    """(notes whose rendered pitch matches up to an octave, notes checked) in the target bars."""
    samples, rate = read_wav(wav_path)
    downbeats = bar_times(midi)
    start = downbeats[first_bar - 1]
    end = downbeats[last_bar] if last_bar < len(downbeats) else midi.get_end_time()
    matched = checked = 0
    for note in notes:
        if not start - 1e-6 <= note.start < end - 1e-6:
            continue
        begin = int((note.start + 0.02) * rate)
        stop = int(min(note.end, note.start + 0.25) * rate)
        pitch = estimated_pitch(samples[begin:stop], rate)
        checked += 1
        matched += pitch is not None and (pitch - note.pitch) % 12 == 0
    return matched, checked


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reports", nargs="+", type=Path, help="JSON printed by clsm infill --wav --json")
    args = parser.parse_args(argv)
    for report_path in args.reports:
        report = json.loads(report_path.read_text())
        first_bar, last_bar = report["bars"]
        track_index = int(str(report["track"]).split()[0]) - 1
        original, original_midi = melody_notes(Path(report["input"]), track_index)
        print(f"{report['input']} bars {first_bar}-{last_bar} ({report['model']}, seed {report['seed']}, "
              f"temperature {report['temperature']}, top-p {report['top_p']})")
        context = (max(first_bar - 1, 1), last_bar + 1)
        print(f"  original: {describe_bars(original, original_midi, *context)}")
        for output in report["outputs"]:
            notes, midi = melody_notes(Path(output["path"]), track_index)
            print(f"  infill {output['k']}: {describe_bars(notes, midi, *context)}")
            if output.get("wav"):
                matched, checked = wav_agreement(Path(output["wav"]), notes, midi, first_bar, last_bar)
                print(f"    WAV: {matched} of {checked} target notes sound at the written pitch class")
    return 0


if __name__ == "__main__":
    sys.exit(main())
