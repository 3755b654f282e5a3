"""SoundFont 2 files read in numpy: the presets, their zones and the sample data, no external program.

Only what a General MIDI playback needs: presets by (bank, program), preset and instrument zones
with their key and velocity ranges (global zones merged in), and per zone the sample, its loop,
root key, tuning, attenuation and volume envelope. Modulators, filters, LFOs and effects are not
read (the spec's defaults stand in for them). :func:`read_soundfont` checks the RIFF structure and
raises ``SoundFontError`` with one sentence for anything it cannot use, before any sample is read
into memory (the sample data stays memory-mapped).
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Optional

import numpy as np

from clsm_cli.errors import InputFileError

DRUM_BANK = 128  # General MIDI percussion (channel 10) lives in bank 128
_PHDR, _BAG, _GEN, _INST, _SHDR = 38, 4, 4, 22, 46  # record sizes in bytes

# Generator numbers of the SF2 2.04 specification that playback reads.
START_OFFSET, END_OFFSET, LOOP_START_OFFSET, LOOP_END_OFFSET, START_COARSE = 0, 1, 2, 3, 4
END_COARSE, DELAY, ATTACK, HOLD, DECAY, SUSTAIN, RELEASE = 12, 33, 34, 35, 36, 37, 38
INSTRUMENT, KEY_RANGE, VEL_RANGE, LOOP_START_COARSE, KEYNUM, VELOCITY = 41, 43, 44, 45, 46, 47
ATTENUATION, LOOP_END_COARSE, COARSE_TUNE, FINE_TUNE, SAMPLE_ID, SAMPLE_MODES = 48, 50, 51, 52, 53, 54
SCALE_TUNING, ROOT_KEY = 56, 58
_RANGES = (KEY_RANGE, VEL_RANGE)
_DEFAULTS = {DELAY: -12000, ATTACK: -12000, HOLD: -12000, DECAY: -12000, RELEASE: -12000,
             SCALE_TUNING: 100, ROOT_KEY: -1, KEYNUM: -1, VELOCITY: -1}


class SoundFontError(InputFileError):
    """A SoundFont that cannot be read (the caller says so and falls back to the built-in synth)."""


@dataclass(frozen=True)
class SampleHeader:
    start: int
    end: int
    loop_start: int
    loop_end: int
    rate: int
    root_key: int
    correction_cents: int


@dataclass(frozen=True)
class Zone:
    """A key/velocity range and its generators (global zone merged in)."""

    keys: tuple[int, int]
    velocities: tuple[int, int]
    generators: dict
    target: int  # the instrument (preset zone) or the sample (instrument zone)

    def covers(self, key: int, velocity: int) -> bool:
        return self.keys[0] <= key <= self.keys[1] and self.velocities[0] <= velocity <= self.velocities[1]


@dataclass(frozen=True)
class Voice:
    """One sample to play for one note: where it is, how to pitch, loop and shape it."""

    sample: SampleHeader
    start: int
    end: int
    loop_start: int
    loop_end: int
    looped: bool  # sample modes 1 and 3: loop while the key is held
    cents: float  # pitch of the played key relative to the sample's root, tuning included
    gain: float  # from the zone's attenuation
    delay_s: float
    attack_s: float
    hold_s: float
    decay_s: float
    sustain_level: float  # 0..1 amplitude
    release_s: float


class SoundFont:
    """A parsed SoundFont: ``voices(bank, program, key, velocity)`` and the 16-bit sample data."""

    def __init__(self, path: Path, samples: np.ndarray, presets: dict, instruments: list, headers: list):
        self.path = path
        self.samples = samples  # int16, memory-mapped
        self._presets = presets  # (bank, program) -> list[Zone] (targets: instruments)
        self._instruments = instruments  # list[list[Zone]] (targets: sample headers)
        self._headers = headers

    @property
    def name(self) -> str:
        return self.path.name

    def has_preset(self, bank: int, program: int) -> bool:
        return (bank, program) in self._presets

    def preset_for(self, bank: int, program: int) -> Optional[tuple[int, int]]:
        """The preset that plays (bank, program): itself, else program in bank 0 (or the drum
        bank's first kit), else the first preset of the file."""
        for candidate in ((bank, program), (bank, 0) if bank == DRUM_BANK else (0, program), (0, 0)):
            if candidate in self._presets:
                return candidate
        return min(self._presets) if self._presets else None

    def voices(self, bank: int, program: int, key: int, velocity: int) -> tuple[Voice, ...]:
        return self._voices(bank, program, int(key), int(velocity))

    @lru_cache(maxsize=4096)
    def _voices(self, bank: int, program: int, key: int, velocity: int) -> tuple[Voice, ...]:
        preset = self.preset_for(bank, program)
        if preset is None:
            return ()
        found = []
        for preset_zone in self._presets[preset]:
            if not preset_zone.covers(key, velocity) or not 0 <= preset_zone.target < len(self._instruments):
                continue
            for zone in self._instruments[preset_zone.target]:
                if zone.covers(key, velocity) and 0 <= zone.target < len(self._headers):
                    found.append(self._voice(zone.generators, preset_zone.generators, self._headers[zone.target], key))
        return tuple(voice for voice in found if voice is not None)

    def _voice(self, local: dict, added: dict, header: SampleHeader, key: int) -> Optional[Voice]:
        def value(number: int) -> int:
            return local.get(number, _DEFAULTS.get(number, 0)) + added.get(number, 0)

        start = header.start + value(START_OFFSET) + 32768 * value(START_COARSE)
        end = min(header.end + value(END_OFFSET) + 32768 * value(END_COARSE), len(self.samples))
        loop_start = header.loop_start + value(LOOP_START_OFFSET) + 32768 * value(LOOP_START_COARSE)
        loop_end = header.loop_end + value(LOOP_END_OFFSET) + 32768 * value(LOOP_END_COARSE)
        if not 0 <= start < end:
            return None
        looped = local.get(SAMPLE_MODES, 0) & 1 == 1 and start <= loop_start < loop_end <= end
        root = local.get(ROOT_KEY, -1)
        root = header.root_key if root < 0 else root
        played = local.get(KEYNUM, -1)
        played = key if played < 0 else played
        cents = (played - root) * value(SCALE_TUNING) + 100 * value(COARSE_TUNE) + value(FINE_TUNE) + header.correction_cents
        return Voice(
            header, start, end, loop_start, loop_end, looped, float(cents),
            gain=10.0 ** (-max(0, value(ATTENUATION)) / 200.0),
            delay_s=_seconds(value(DELAY)), attack_s=_seconds(value(ATTACK)), hold_s=_seconds(value(HOLD)),
            decay_s=_seconds(value(DECAY)), sustain_level=10.0 ** (-min(1440, max(0, value(SUSTAIN))) / 200.0),
            release_s=min(_seconds(value(RELEASE)), 2.0),
        )

    def __hash__(self) -> int:  # lru_cache keys on the instance
        return id(self)


def _seconds(timecents: int) -> float:
    return float(2.0 ** (max(-12000, min(8000, timecents)) / 1200.0))


def read_soundfont(path: str | os.PathLike) -> SoundFont:
    """Read a ``.sf2`` file; SoundFontError (one sentence) when it is missing or not a usable SoundFont."""
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as stream:
            head = stream.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"sfbk":
                raise SoundFontError(f"{path.name} is not a SoundFont (no RIFF sfbk header)")
            chunks = _list_chunks(stream, size)
            pdta = _read_pdta(stream, chunks.get(b"pdta"), path.name)
        smpl = chunks.get(b"smpl")
        if smpl is None or smpl[1] < 2:
            raise SoundFontError(f"{path.name} has no sample data (smpl chunk)")
        samples = np.memmap(path, dtype="<i2", mode="r", offset=smpl[0], shape=(smpl[1] // 2,))
    except OSError as error:
        raise SoundFontError(f"the SoundFont {path} cannot be read ({error.strerror or error})") from None
    return _build(path, samples, pdta)


def _list_chunks(stream, size: int) -> dict:
    """Offsets and sizes of the sub-chunks of the LIST chunks (sdta's smpl, the pdta list)."""
    chunks, position = {}, 12
    while position + 8 <= size:
        stream.seek(position)
        chunk_id, chunk_size = struct.unpack("<4sI", stream.read(8))
        if chunk_id == b"LIST":
            kind = stream.read(4)
            if kind == b"pdta":
                chunks[b"pdta"] = (position + 12, chunk_size - 4)
            elif kind == b"sdta":
                inner, end = position + 12, position + 8 + chunk_size
                while inner + 8 <= min(end, size):
                    stream.seek(inner)
                    inner_id, inner_size = struct.unpack("<4sI", stream.read(8))
                    if inner_id == b"smpl":
                        chunks[b"smpl"] = (inner + 8, min(inner_size, size - inner - 8))
                    inner += 8 + inner_size + (inner_size & 1)
        position += 8 + chunk_size + (chunk_size & 1)
    return chunks


def _read_pdta(stream, where: Optional[tuple[int, int]], name: str) -> dict:
    if where is None:
        raise SoundFontError(f"{name} has no preset data (pdta chunk)")
    stream.seek(where[0])
    data = stream.read(where[1])
    records, position = {}, 0
    while position + 8 <= len(data):
        chunk_id, chunk_size = struct.unpack_from("<4sI", data, position)
        records[chunk_id.decode("latin-1")] = data[position + 8 : position + 8 + chunk_size]
        position += 8 + chunk_size + (chunk_size & 1)
    sizes = {"phdr": _PHDR, "pbag": _BAG, "pgen": _GEN, "inst": _INST, "ibag": _BAG, "igen": _GEN, "shdr": _SHDR}
    for key, record_size in sizes.items():
        if key not in records or len(records[key]) < 2 * record_size or len(records[key]) % record_size:
            raise SoundFontError(f"{name} is not a usable SoundFont (its {key} records are missing or cut short)")
    return records


def _generators(gen: bytes, first: int, last: int) -> list[tuple[int, int, bytes]]:
    out = []
    for index in range(first, min(last, len(gen) // _GEN)):
        number, amount = struct.unpack_from("<Hh", gen, index * _GEN)
        out.append((number, amount, gen[index * _GEN + 2 : index * _GEN + 4]))
    return out


def _zones(bags: bytes, gens: bytes, first_bag: int, last_bag: int, target_gen: int) -> list[Zone]:
    """Zones of one preset or instrument, its global zone (no target generator) merged into each."""
    bag_count = len(bags) // _BAG
    zones, global_gens = [], {}
    global_ranges = {KEY_RANGE: (0, 127), VEL_RANGE: (0, 127)}
    for bag in range(first_bag, min(last_bag, bag_count - 1)):
        gen_first = struct.unpack_from("<H", bags, bag * _BAG)[0]
        gen_last = struct.unpack_from("<H", bags, (bag + 1) * _BAG)[0]
        generators, ranges, target = {}, {}, None
        for number, amount, raw in _generators(gens, gen_first, gen_last):
            if number in _RANGES:
                ranges[number] = (raw[0], raw[1])
            elif number == target_gen:
                target = amount & 0xFFFF
            else:
                generators[number] = amount
        if target is None:
            if not zones:  # only the first zone may be global
                global_gens, global_ranges = generators, {**global_ranges, **ranges}
            continue
        merged_ranges = {**global_ranges, **ranges}
        zones.append(Zone(merged_ranges[KEY_RANGE], merged_ranges[VEL_RANGE], {**global_gens, **generators}, target))
    return zones


def _build(path: Path, samples: np.ndarray, pdta: dict) -> SoundFont:
    phdr, inst, shdr = pdta["phdr"], pdta["inst"], pdta["shdr"]
    headers = []
    for index in range(len(shdr) // _SHDR - 1):  # the last record is the terminal "EOS"
        start, end, loop_start, loop_end, rate, root, correction = struct.unpack_from("<5IBb", shdr, index * _SHDR + 20)
        headers.append(SampleHeader(start, end, loop_start, loop_end, max(1, rate), 60 if root > 127 else root,
                                    correction))
    instruments = []
    for index in range(len(inst) // _INST - 1):
        first = struct.unpack_from("<H", inst, index * _INST + 20)[0]
        last = struct.unpack_from("<H", inst, (index + 1) * _INST + 20)[0]
        instruments.append(_zones(pdta["ibag"], pdta["igen"], first, last, SAMPLE_ID))
    presets: dict = {}
    for index in range(len(phdr) // _PHDR - 1):
        program, bank, first = struct.unpack_from("<3H", phdr, index * _PHDR + 20)
        last = struct.unpack_from("<H", phdr, (index + 1) * _PHDR + 24)[0]
        presets.setdefault((bank, program), _zones(pdta["pbag"], pdta["pgen"], first, last, INSTRUMENT))
    if not presets:
        raise SoundFontError(f"{path.name} holds no presets")
    return SoundFont(path, samples, presets, instruments, headers)
