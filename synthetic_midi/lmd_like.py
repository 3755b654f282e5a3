"""LMD-like songs: conductor plus 8..16 instrument tracks (drums, bass, chords, pads, expression
controllers, jittered lines, some in 3/4), as the Lakh MIDI files the data build reads.

Used by ``benchmarks/data.py`` (long songs) and by the reader tests (short ones).
"""

from __future__ import annotations

import io
import random

import mido

TICKS_PER_BEAT = 480
STEP = TICKS_PER_BEAT // 4


def _track(name: str, channel: int, program: int | None, notes, controls=()) -> mido.MidiTrack:
    events = []
    if program is not None:
        events.append((0, 1, mido.Message("program_change", channel=channel, program=program)))
    for tick, control, value in controls:
        events.append((tick, 1, mido.Message("control_change", channel=channel, control=control, value=value)))
    for start, end, pitch, velocity in notes:
        events.append((start, 2, mido.Message("note_on", channel=channel, note=pitch, velocity=velocity)))
        events.append((end, 0, mido.Message("note_off", channel=channel, note=pitch, velocity=0)))
    events.sort(key=lambda event: (event[0], event[1]))
    track = mido.MidiTrack([mido.MetaMessage("track_name", name=name, time=0)])
    now = 0
    for tick, _, message in events:
        track.append(message.copy(time=tick - now))
        now = tick
    track.append(mido.MetaMessage("end_of_track", time=0))
    return track


def lmd_like_song(rng: random.Random, bar_range: tuple[int, int] = (90, 150)) -> mido.MidiFile:
    """One song: conductor + 8..16 instrument tracks over 90..150 bars (``bar_range``; the tests
    use shorter songs)."""
    meter = (3, 4) if rng.random() < 1 / 6 else (4, 4)
    bar_ticks = meter[0] * TICKS_PER_BEAT
    bars = rng.randint(*bar_range)
    end = bars * bar_ticks
    conductor = mido.MidiTrack(
        [
            mido.MetaMessage("time_signature", numerator=meter[0], denominator=meter[1], time=0),
            mido.MetaMessage("set_tempo", tempo=rng.randint(400_000, 700_000), time=0),
            mido.MetaMessage("end_of_track", time=end),
        ]
    )
    tracks = [conductor]

    def line(low, high, durations, rest_chance, jitter=0):
        notes, tick, pitch = [], 0, rng.randint(low, high)
        while tick < end:
            length = rng.choice(durations) * STEP
            if rng.random() >= rest_chance:
                pitch = min(high, max(low, pitch + rng.randint(-3, 3)))
                start = max(0, tick + rng.randint(-jitter, jitter))
                notes.append((start, min(end, tick + length - rng.randint(0, jitter)), pitch, rng.randint(60, 110)))
            tick += length
        return notes

    expression = [(tick, 11, rng.randint(60, 127)) for tick in range(0, end, STEP * 4)]
    drums = []
    for bar_start in range(0, end, bar_ticks):
        for step in range(0, bar_ticks, STEP):
            drums.append((bar_start + step, bar_start + step + STEP // 2, 42, 70))
            if step % TICKS_PER_BEAT == 0:
                drums.append((bar_start + step, bar_start + step + STEP, 36 if step % (2 * TICKS_PER_BEAT) == 0 else 38, 100))
    tracks.append(_track("Drums", 9, None, drums))
    tracks.append(_track("Bass", 1, 33, line(36, 52, (2, 4, 4, 8), 0.1)))
    chords = []
    for bar_start in range(0, end, bar_ticks):
        root = rng.randint(52, 64)
        for half in (0, bar_ticks // 2):
            for interval in (0, 4, 7, 11):
                chords.append((bar_start + half, bar_start + half + bar_ticks // 2, root + interval, 70))
    tracks.append(_track("Piano", 0, 0, chords, expression))
    tracks.append(_track("Vocal", 3, 53, line(60, 79, (2, 2, 4, 4, 6, 8), 0.25, jitter=8), expression))
    extra = [
        ("Strings", 48, lambda: [(s, e, p + d, v) for s, e, p, v in line(55, 70, (16,), 0.1) for d in (0, 7)]),
        ("Guitar", 25, lambda: line(55, 76, (1, 1, 2), 0.05)),
        ("Lead", 81, lambda: line(62, 90, (2, 4, 8), 0.5)),
        ("Pad", 89, lambda: [(s, e, p + d, v) for s, e, p, v in line(48, 60, (32,), 0.0) for d in (0, 3, 7)]),
        ("Flute", 73, lambda: line(72, 84, (4, 8), 0.6, jitter=4)),
        ("Organ", 16, lambda: line(48, 72, (4, 8, 16), 0.3)),
        ("Brass", 61, lambda: line(55, 74, (2, 4), 0.4)),
        ("Synth Bass", 38, lambda: line(30, 45, (2, 4), 0.2)),
        ("Choir", 52, lambda: [(s, e, p + d, v) for s, e, p, v in line(55, 72, (16,), 0.3) for d in (0, 4)]),
        ("Percussion", 10, lambda: line(70, 80, (1, 2), 0.5)),
        ("Harmony", 54, lambda: line(57, 74, (2, 4, 6), 0.3)),
        ("Arp", 5, lambda: line(60, 84, (1,), 0.1)),
    ]
    rng.shuffle(extra)
    for channel, (name, program, make) in zip([2, 4, 5, 6, 7, 8, 10, 11, 12, 13, 14, 15], extra[: rng.randint(4, 12)]):
        tracks.append(_track(name, channel, program, make()))
    return mido.MidiFile(type=1, ticks_per_beat=TICKS_PER_BEAT, tracks=tracks)


def lmd_like_files(count: int, bar_range: tuple[int, int] = (9, 14)) -> list[bytes]:
    """``count`` short LMD-like songs as file bytes, seeded 0..count-1."""
    files = []
    for seed in range(count):
        buffer = io.BytesIO()
        lmd_like_song(random.Random(seed), bar_range=bar_range).save(file=buffer)
        files.append(buffer.getvalue())
    return files
