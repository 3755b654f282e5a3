"""Notes to audio samples in numpy: a SoundFont sampler, and a built-in synth when there is none.

Both renderers take :class:`SoundingNote` lists (times in seconds) and fill any stretch of the
output (``start_sample``, ``num_samples``), so a player can hand its first buffer to the audio
device before the rest is rendered. Output is mono float32 at :data:`SAMPLE_RATE`.

* :class:`SoundFontSynth` plays each note's SoundFont voices: the sample at the note's pitch
  (linear interpolation), looped while held where the zone says so, shaped by the zone's
  volume envelope (delay, attack, hold, decay, sustain, release) and attenuation.
* :class:`BuiltinSynth` is the fallback: a few decaying harmonics under an attack-decay-release
  envelope for pitched notes, short filtered noise bursts (a pitch sweep for kicks) for drums.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from clsm_cli.music.soundfont import DRUM_BANK, SoundFont, Voice

SAMPLE_RATE = 44_100
MASTER_GAIN = 0.8  # General MIDI SoundFont voices peak near 0.2 each: room for a melody over a few parts
BUILTIN_RELEASE_S = 0.12
DRUM_LENGTH_S = 0.18


@dataclass(frozen=True)
class SoundingNote:
    """One note to sound: when (seconds), what, how loud, on which instrument."""

    start_s: float
    end_s: float
    pitch: int
    velocity: int
    program: int = 0
    is_drum: bool = False


class Renderer:
    """What every renderer offers: a name for summaries, and ``render`` of a stretch of samples."""

    name = "renderer"

    def tail_s(self, note: SoundingNote) -> float:
        """How long after its end a note still sounds (its release)."""
        return BUILTIN_RELEASE_S

    def end_sample(self, notes: Sequence[SoundingNote]) -> int:
        """The sample after which every note has died away."""
        if not notes:
            return 0
        return int(np.ceil(max(note.end_s + self.tail_s(note) for note in notes) * SAMPLE_RATE))

    def render(self, notes: Sequence[SoundingNote], start_sample: int = 0, num_samples: int | None = None) -> np.ndarray:
        """Samples ``start_sample .. start_sample + num_samples`` (default: to the end) of the mix, float32."""
        if num_samples is None:
            num_samples = max(0, self.end_sample(notes) - start_sample)
        out = np.zeros(num_samples, dtype=np.float64)
        for note in notes:
            first = int(round(note.start_s * SAMPLE_RATE))
            last = int(np.ceil((note.end_s + self.tail_s(note)) * SAMPLE_RATE))
            lo, hi = max(first, start_sample), min(last, start_sample + num_samples)
            if hi > lo:
                out[lo - start_sample : hi - start_sample] += self._note(note, lo - first, hi - lo)
        return np.tanh(out * MASTER_GAIN).astype(np.float32)  # soft limit: no clipping on dense passages

    def _note(self, note: SoundingNote, offset: int, count: int) -> np.ndarray:
        raise NotImplementedError


class BuiltinSynth(Renderer):
    """The fallback synth: harmonics and an envelope for pitched notes, noise bursts for drums."""

    name = "built-in synth"
    HARMONICS = ((1, 1.0), (2, 0.45), (3, 0.22), (4, 0.12), (5, 0.06))  # (multiple, amplitude)

    def tail_s(self, note: SoundingNote) -> float:
        return DRUM_LENGTH_S if note.is_drum else BUILTIN_RELEASE_S

    def _note(self, note: SoundingNote, offset: int, count: int) -> np.ndarray:
        t = (offset + np.arange(count)) / SAMPLE_RATE  # seconds since the note began
        loudness = (max(1, min(127, note.velocity)) / 127.0) ** 2
        if note.is_drum:
            return loudness * _drum(note.pitch, t, offset)
        frequency = 440.0 * 2.0 ** ((note.pitch - 69) / 12.0)
        tone = sum(amplitude * np.exp(-t * 1.5 * multiple) * np.sin(2 * np.pi * frequency * multiple * t)
                   for multiple, amplitude in self.HARMONICS if frequency * multiple < SAMPLE_RATE / 2)
        held = max(note.end_s - note.start_s, 0.0)
        attack = np.minimum(t / 0.008, 1.0)
        body = 0.65 + 0.35 * np.exp(-t * 4.0)  # a struck note that settles
        release = np.clip(1.0 - (t - held) / BUILTIN_RELEASE_S, 0.0, 1.0)
        return 0.5 * loudness * tone * attack * body * release


def _drum(pitch: int, t: np.ndarray, offset: int) -> np.ndarray:
    """A short burst: a falling sine for kicks (35, 36), filtered noise for everything else."""
    if pitch in (35, 36):
        phase = 2 * np.pi * (50.0 * t + 60.0 * (1 - np.exp(-t * 30.0)) / 30.0)
        return np.sin(phase) * np.exp(-t * 18.0)
    # Seeded by the drum alone, drawn from the note's start: any stretch renders as the whole does.
    noise = np.random.default_rng(pitch).uniform(-1.0, 1.0, offset + len(t))[offset:]
    decay = 45.0 if pitch in (42, 44) else 20.0  # closed hi-hats are the shortest
    if pitch < 50:  # snares and toms: less hiss, more body
        noise = 0.6 * noise + 0.4 * np.sin(2 * np.pi * (110.0 + 3 * (pitch - 35)) * t)
    return 0.7 * noise * np.exp(-t * decay)


class SoundFontSynth(Renderer):
    """Each note as the SoundFont's voices for its program (bank 128 for drums)."""

    def __init__(self, soundfont: SoundFont):
        self.soundfont = soundfont
        self.name = f"SoundFont {soundfont.name}"

    def _voices(self, note: SoundingNote) -> tuple[Voice, ...]:
        bank = DRUM_BANK if note.is_drum else 0
        return self.soundfont.voices(bank, note.program, note.pitch, max(1, min(127, note.velocity)))

    def tail_s(self, note: SoundingNote) -> float:
        voices = self._voices(note)
        return max((voice.release_s for voice in voices), default=0.0) + 0.01

    def _note(self, note: SoundingNote, offset: int, count: int) -> np.ndarray:
        out = np.zeros(count, dtype=np.float64)
        loudness = (max(1, min(127, note.velocity)) / 127.0) ** 2
        held = max(note.end_s - note.start_s, 0.0)
        for voice in self._voices(note):
            out += loudness * voice.gain * self._voice(voice, held, offset, count)
        return out

    def _voice(self, voice: Voice, held_s: float, offset: int, count: int) -> np.ndarray:
        ratio = 2.0 ** (voice.cents / 1200.0) * voice.sample.rate / SAMPLE_RATE
        position = (offset + np.arange(count)) * ratio  # in samples of the source, from voice.start
        length = voice.end - voice.start
        if voice.looped:
            loop_from, loop_length = voice.loop_start - voice.start, voice.loop_end - voice.loop_start
            past = position >= loop_from
            position = np.where(past, loop_from + np.mod(position - loop_from, loop_length), position)
        sounding = position < length - 1
        index = np.minimum(position.astype(np.int64), length - 2).clip(0)
        fraction = position - index
        data = self.soundfont.samples
        first = np.asarray(data[voice.start + index], dtype=np.float64)
        second = np.asarray(data[voice.start + index + 1], dtype=np.float64)
        wave = np.where(sounding, first + fraction * (second - first), 0.0) / 32768.0
        return wave * _envelope(voice, held_s, (offset + np.arange(count)) / SAMPLE_RATE)


def _envelope(voice: Voice, held_s: float, t: np.ndarray) -> np.ndarray:
    """The SF2 volume envelope at times ``t`` after note-on, the key released at ``held_s``."""

    def level(time: np.ndarray) -> np.ndarray:
        time = time - voice.delay_s
        attack = np.clip(time / max(voice.attack_s, 1e-4), 0.0, 1.0)
        decaying = time - voice.attack_s - voice.hold_s
        # Decay goes down in dB at the rate of 100 dB per decay time, to the sustain level.
        decay_db = np.clip(decaying / max(voice.decay_s, 1e-4), 0.0, None) * 100.0
        sustain_db = -20.0 * np.log10(max(voice.sustain_level, 1e-5))
        decayed = 10.0 ** (-np.minimum(decay_db, sustain_db) / 20.0)
        return np.where(time < 0, 0.0, attack * decayed)

    at_release = level(np.array([held_s]))[0]
    released = t - held_s
    release_gain = at_release * 10.0 ** (-np.clip(released / max(voice.release_s, 1e-3), 0.0, None) * 100.0 / 20.0)
    return np.where(released < 0, level(t), release_gain)
