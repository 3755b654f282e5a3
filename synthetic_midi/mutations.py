"""Byte-level mutations of MIDI files, for the fuzz tests and ``benchmarks/fuzz.py``.

Some mutations are blind (bit flips, truncations, deleted or duplicated slices, huge chunk
lengths, odd header fields); others change the inside of a track chunk and repair its length, so
that the damage gets past the chunk checks and reaches the event parser, the note pairing, the
bar and melody code, and the writer.
"""

from __future__ import annotations

import random
import struct
import tempfile
from pathlib import Path

HUGE_LENGTHS = (0xFFFFFFFF, 0xFFFFFFF0, 0x7FFFFFFF, 0x04000001, 0x00100000)
EVENT_SNIPPETS = (
    bytes([0x00, 0xFF, 0x58, 0x04, 0x00, 0x02, 24, 8]),  # 0/4 time signature
    bytes([0x00, 0xFF, 0x58, 0x04, 0x07, 0x09, 24, 8]),  # 7/512
    bytes([0x00, 0xFF, 0x58, 0x02, 0x03, 0x02]),  # short time signature
    bytes([0x00, 0xFF, 0x58, 0x04, 0x07, 0x05, 24, 8]),  # 7/32
    bytes([0x00, 0xFF, 0x51, 0x03, 0x00, 0x00, 0x00]),  # tempo 0
    bytes([0x00, 0xFF, 0x51, 0x01, 0x07]),  # short tempo
    bytes([0x00, 0xFF, 0x59, 0x02, 0x50, 0x09]),  # impossible key signature
    bytes([0x00, 0xFF, 0x2F, 0x00]),  # end of track in the middle
    bytes([0x00, 0xFF, 0x03, 0x03, 0xC3, 0xA9, 0x00]),  # odd track name bytes
    bytes([0x00, 0xF0, 0x03, 0x90, 0xFF, 0xF7]),  # sysex with bytes above 127
    bytes([0x00, 0xF7, 0x02, 0x01, 0x02]),  # sysex continuation packet
    bytes([0x8F, 0xFF, 0xFF, 0x7F, 0x90, 60, 100]),  # huge delta then a note
    bytes([0x00, 0x90, 60, 100]),  # a note-on never released
    bytes([0x00, 0x80, 61, 0]),  # a stray note-off
    bytes([0x00, 0x99, 36, 100, 0x10, 36, 0]),  # drums with running status
    bytes([0x00, 0xC5, 33, 0x00, 0x95, 40, 90, 0x60, 40, 0]),  # a bass on another channel
    bytes([0x00, 0x90, 60, 100, 0x00, 0x90, 60, 100, 0x10, 0x80, 60, 0]),  # overlapping same pitch
    bytes([0x00, 0xF4]),  # an undefined status byte
    bytes([0x00, 60, 100]),  # data without status
)


def _chunks(data: bytes) -> list[tuple[int, int]]:
    """(offset of the chunk header, body length) of each well-formed chunk after the header."""
    found, position = [], 14
    while position + 8 <= len(data):
        length = struct.unpack(">I", data[position + 4 : position + 8])[0]
        if position + 8 + length > len(data):
            break
        found.append((position, length))
        position += 8 + length
    return found


def _mutate_track_body(data: bytes, rng: random.Random) -> bytes:
    chunks = [(offset, length) for offset, length in _chunks(data) if data[offset : offset + 4] == b"MTrk"]
    if not chunks:
        return data
    offset, length = rng.choice(chunks)
    body = bytearray(data[offset + 8 : offset + 8 + length])
    action = rng.randrange(4)
    if action == 0 or not body:
        position = rng.randint(0, len(body))
        body[position:position] = rng.choice(EVENT_SNIPPETS)
    elif action == 1:
        for _ in range(rng.randint(1, 4)):
            body[rng.randrange(len(body))] = rng.randrange(256)
    elif action == 2:
        start = rng.randrange(len(body))
        del body[start : start + rng.randint(1, 6)]
    else:
        position = rng.randint(0, len(body))
        body[position:position] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
    return data[:offset] + b"MTrk" + struct.pack(">I", len(body)) + bytes(body) + data[offset + 8 + length :]


def mutate(data: bytes, rng: random.Random) -> bytes:
    """One random mutation of ``data``."""
    data = bytearray(data)
    kind = rng.randrange(9)
    if kind == 0 and data:  # bit flips anywhere
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    elif kind == 1:  # truncation
        del data[rng.randint(0, len(data)) :]
    elif kind == 2:  # an inserted chunk, known or unknown type, honest or lying length
        chunk_id = rng.choice((b"MTrk", b"XFIH", b"\x00\x01\x02\x03", b"MThd"))
        body = bytes(rng.randrange(256) for _ in range(rng.randint(0, 16)))
        length = len(body) if rng.random() < 0.5 else rng.choice(HUGE_LENGTHS + (len(body) + 5,))
        positions = [offset for offset, _ in _chunks(bytes(data))] + [len(data)]
        position = rng.choice(positions)
        data[position:position] = chunk_id + struct.pack(">I", length) + body
    elif kind == 3:  # a huge length in the header or a chunk
        positions = [4] + [offset + 4 for offset, _ in _chunks(bytes(data))]
        position = rng.choice(positions)
        if position + 4 <= len(data):
            data[position : position + 4] = struct.pack(">I", rng.choice(HUGE_LENGTHS))
    elif kind == 4 and len(data) >= 14:  # odd header fields
        field = rng.choice((8, 10, 12))
        value = rng.choice((0, 1, 2, 3, 0x7FFF, 0x8000 | 25, 0xFFFF, 1024, 1025, 60_000, 1, 3, 7))
        data[field : field + 2] = struct.pack(">H", value)
    elif kind == 5 and data:  # a deleted slice
        start = rng.randrange(len(data))
        del data[start : start + rng.randint(1, 32)]
    elif kind == 6 and data:  # a duplicated slice
        start = rng.randrange(len(data))
        data[start:start] = data[start : start + rng.randint(1, 64)]
    else:  # damage inside a track, with its length repaired
        return _mutate_track_body(bytes(data), rng)
    return bytes(data)


def mutated(data: bytes, rng: random.Random) -> bytes:
    """One to three mutations in a row."""
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        data = mutate(data, rng)
    return data


def exercise(data: bytes, out_folder: Path | None = None) -> str:
    """Read ``data`` and run it through bars, melody and (with ``out_folder``) the writer, as the
    commands do. Returns "ok"; a ClsmError propagates (a clean refusal); anything else is a bug."""
    from clsm_cli.music.bars import BarRange, song_bars
    from clsm_cli.music.melody import choose_melody_track, quantize_track, reduce_to_monophony, track_summaries
    from clsm_cli.music.midi_read import read_midi, song_from_bytes
    from clsm_cli.music.midi_write import write_edited_song
    from clsm_cli.music.tokens import StepNote

    song = song_from_bytes(data, "fuzz.mid")
    bars = song_bars(song)
    track_summaries(song, bars, (1, min(2, len(bars))))
    track = choose_melody_track(song, None, (1, 1), bars)
    quantized = quantize_track(track, bars, song.ticks_per_beat)
    reduce_to_monophony(quantized.notes)
    if out_folder is not None:
        first_step, end_step = BarRange(1, 1).step_span(bars)
        new_notes = [StepNote(first_step, end_step, 67, tied_from_before=True)]
        out = write_edited_song(song, track, bars, BarRange(1, 1), new_notes, out_folder / "out.mid", "fuzz", force=True)
        read_midi(out)
    return "ok"


def seed_files() -> dict[str, bytes]:
    """The good fixtures and two small random songs: what the fuzzers mutate."""
    from synthetic_midi.midi_factory import random_multitrack_song

    fixtures = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
    files = {name: (fixtures / name).read_bytes() for name in
             ("two_tracks.mid", "type0_mixed.mid", "waltz.mid", "running_status.mid")}
    for seed in (1, 2):
        files[f"random{seed}.mid"] = random_multitrack_song(seed, num_bars=4).to_bytes()
    return files


def temporary_folder() -> Path:
    return Path(tempfile.mkdtemp(prefix="clsm-fuzz-"))


# --- provenance records: each field given each wrong type ----------------------------------------

# Where a clsm output keeps its record: a sequencer-specific event (format 2: manufacturer id 0x7D,
# then "CLSM") or, in outputs written before it, a text event. Spelled out here rather than imported,
# so that the fuzz also runs against code from before the sequencer-specific event existed.
RECORD_PREFIX = "clsm-provenance "
SEQUENCER_PREFIX = b"\x7dCLSM"

WRONG_VALUES = {  # a wrong type or value, by name: what a careless script or a damaged file might hold
    "missing": None,  # the field is deleted (handled apart)
    "null": None,
    "true": True,
    "zero": 0,
    "negative": -7,
    "huge int": 10**40,
    "float": 2.5,
    "text": "x",
    "empty text": "",
    "empty list": [],
    "list": [5, 3],
    "object": {"a": 1},
}
LATENT_VALUES = {  # wrong latents w (base64 of float32 numbers)
    "NaN w": [float("nan")] * 4,
    "Inf w": [float("inf")] * 4,
    "huge w": [1e30] * 4,
    "short w": [0.5],
}


def provenance_fields(record: dict) -> list[str]:
    """Paths of every field of a record worth damaging: top-level keys, a latent's parts, a note row's."""
    fields = sorted(record)
    if record.get("latents"):
        fields += ["latents[0]", "latents[0].bars", "latents[0].w"]
    if record.get("target_notes"):
        fields += ["target_notes[0]", "target_notes[0][0]"]
    return fields + ["bars[0]"]


def provenance_classes(record: dict) -> list[tuple[str, str]]:
    """Every (field, wrong value) class the fuzz tries on a record."""
    classes = [(field, wrong) for field in provenance_fields(record) for wrong in WRONG_VALUES]
    classes += [("latents[0].w", wrong) for wrong in LATENT_VALUES] + [("latents[0].w", "not base64")]
    return classes


def _damaged_record(record: dict, field: str, wrong: str) -> dict:
    import base64
    import copy

    import numpy as np

    record = copy.deepcopy(record)
    if field == "latents[0].w" and wrong in LATENT_VALUES:
        value = base64.b64encode(np.asarray(LATENT_VALUES[wrong], dtype="<f4").tobytes()).decode("ascii")
    elif wrong == "not base64":
        value = "%%%not base64%%%"
    else:
        value = WRONG_VALUES[wrong]
    # Walk to the container of the field: "a", "a[0]", "a[0].b", "a[0][0]".
    parts = field.replace("]", "").replace("[", ".").split(".")
    container = record
    for part in parts[:-1]:
        container = container[int(part)] if isinstance(container, list) else container[part]
    last = int(parts[-1]) if isinstance(container, list) else parts[-1]
    if wrong == "missing":
        del container[last]
    else:
        container[last] = value
    return record


def read_record(data: bytes) -> dict:
    """The newest clsm record of an output's bytes (as a dict)."""
    return max(_records(data), key=lambda found: found[2].get("generation", 0) if isinstance(found[2], dict) else 0)[2]


def _records(data: bytes) -> list[tuple[int, int, dict]]:
    import io
    import json

    import mido

    midi = mido.MidiFile(file=io.BytesIO(data))
    found = []
    for chunk, track in enumerate(midi.tracks):
        for index, message in enumerate(track):
            text = None
            if message.type == "sequencer_specific" and bytes(message.data).startswith(SEQUENCER_PREFIX):
                text = bytes(message.data)[len(SEQUENCER_PREFIX):].decode("utf-8")
            elif message.type == "text" and message.text.startswith(RECORD_PREFIX):
                text = message.text
            if text is not None:
                found.append((chunk, index, json.loads(text[len(RECORD_PREFIX):])))
    return found


def with_damaged_record(data: bytes, field: str, wrong: str) -> bytes:
    """An output's bytes with its record's ``field`` set to the ``wrong`` value, where it was."""
    import io
    import json

    import mido

    midi = mido.MidiFile(file=io.BytesIO(data))
    for chunk, index, record in _records(data):
        text = RECORD_PREFIX + json.dumps(_damaged_record(record, field, wrong), separators=(",", ":"))
        message = midi.tracks[chunk][index]
        if message.type == "text":
            replacement = mido.MetaMessage("text", text=text, time=message.time)
        else:
            replacement = mido.MetaMessage("sequencer_specific", data=tuple(SEQUENCER_PREFIX + text.encode("utf-8")),
                                           time=message.time)
        midi.tracks[chunk][index] = replacement
    buffer = io.BytesIO()
    midi.save(file=buffer)
    return buffer.getvalue()
