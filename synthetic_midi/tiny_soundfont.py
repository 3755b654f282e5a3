"""A tiny SoundFont 2 file built in code: one looped sine-ish sample, one preset (bank 0, program 0).

Shared by the audio tests and ``benchmarks/explore.py``, so neither needs a SoundFont installed.
The sample is 20 periods of a 440 Hz tone (fundamental and a quieter octave) at 44 000 Hz, root key
69 (A4), looped over its last 10 periods; the instrument zone covers every key and velocity.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

SAMPLE_RATE = 44_000
PERIOD = 100  # samples of one 440 Hz period at SAMPLE_RATE
ROOT_KEY = 69


def _chunk(chunk_id: bytes, data: bytes) -> bytes:
    return struct.pack("<4sI", chunk_id, len(data)) + data + (b"\0" if len(data) % 2 else b"")


def _list(kind: bytes, *chunks: bytes) -> bytes:
    return _chunk(b"LIST", kind + b"".join(chunks))


def _name(text: str) -> bytes:
    return text.encode("ascii")[:20].ljust(20, b"\0")


def tiny_soundfont_bytes(attenuation_cb: int = 0, release_timecents: int = -3600) -> bytes:
    """The bytes of the tiny SoundFont (see the module docstring)."""
    t = np.arange(20 * PERIOD)
    tone = np.sin(2 * np.pi * t / PERIOD) + 0.3 * np.sin(4 * np.pi * t / PERIOD)
    samples = np.concatenate([np.round(tone / 1.3 * 20000), np.zeros(46)]).astype("<i2")  # 46 zeros: the spec's pad
    loop_start, end = 10 * PERIOD, 20 * PERIOD
    info = _list(b"INFO", _chunk(b"ifil", struct.pack("<HH", 2, 1)), _chunk(b"isng", b"EMU8000\0"),
                 _chunk(b"INAM", b"clsm tiny sine\0"))
    sdta = _list(b"sdta", _chunk(b"smpl", samples.tobytes()))
    phdr = struct.pack("<20s3H3I", _name("Sine"), 0, 0, 0, 0, 0, 0) + struct.pack("<20s3H3I", _name("EOP"), 0, 0, 1, 0, 0, 0)
    pbag = struct.pack("<HH", 0, 0) + struct.pack("<HH", 1, 0)
    pmod = bytes(10)
    pgen = struct.pack("<Hh", 41, 0) + struct.pack("<Hh", 0, 0)  # instrument 0
    inst = struct.pack("<20sH", _name("Sine"), 0) + struct.pack("<20sH", _name("EOI"), 1)
    ibag = struct.pack("<HH", 0, 0) + struct.pack("<HH", 5, 0)
    imod = bytes(10)
    igen = (struct.pack("<HBB", 43, 0, 127) + struct.pack("<Hh", 48, attenuation_cb)
            + struct.pack("<Hh", 38, release_timecents) + struct.pack("<Hh", 54, 1) + struct.pack("<Hh", 53, 0)
            + struct.pack("<Hh", 0, 0))
    shdr = (struct.pack("<20s5IBbHH", _name("sine"), 0, end, loop_start, end, SAMPLE_RATE, ROOT_KEY, 0, 0, 1)
            + struct.pack("<20s5IBbHH", _name("EOS"), 0, 0, 0, 0, 0, 0, 0, 0, 0))
    pdta = _list(b"pdta", _chunk(b"phdr", phdr), _chunk(b"pbag", pbag), _chunk(b"pmod", pmod), _chunk(b"pgen", pgen),
                 _chunk(b"inst", inst), _chunk(b"ibag", ibag), _chunk(b"imod", imod), _chunk(b"igen", igen),
                 _chunk(b"shdr", shdr))
    body = b"sfbk" + info + sdta + pdta
    return struct.pack("<4sI", b"RIFF", len(body)) + body


def write_tiny_soundfont(path: str | Path, **options) -> Path:
    path = Path(path)
    path.write_bytes(tiny_soundfont_bytes(**options))
    return path
