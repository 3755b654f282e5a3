"""Playing a passage: rendered block by block and handed to an audio device, or sent to a MIDI port.

:class:`Player` renders the first block on the caller's thread (so a keypress's latency ends when
that block is handed over) and the rest as the device asks for it. Devices:

* :class:`MiniaudioDevice`: the ``miniaudio`` library, whose backends are built in (no system audio
  library to install);
* :class:`NullDevice`: plays nothing, records what it was handed (tests, the benchmark, and a
  machine where no audio backend loads: the app says so once and runs silently);
* :class:`MidiPortDevice`: ``--port NAME``, the notes as MIDI messages to an output port (mido with
  the rtmidi backend), for a DAW or synth to play.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from typing import Callable, Optional, Sequence

import numpy as np

from clsm_cli.errors import ModelError, UsageError
from clsm_cli.music.synth import SAMPLE_RATE, Renderer, SoundingNote

BLOCK_FRAMES = 1024  # 23 ms at 44.1 kHz: the first buffer a keypress waits for


class PassageStream:
    """A passage rendered on demand, one block after another, until every note has died away."""

    def __init__(self, notes: Sequence[SoundingNote], renderer: Renderer):
        self.notes = list(notes)
        self.renderer = renderer
        self.total = renderer.end_sample(self.notes)
        self.position = 0

    @property
    def finished(self) -> bool:
        return self.position >= self.total

    def next_block(self, frames: int = BLOCK_FRAMES) -> np.ndarray:
        """The next ``frames`` samples (float32, zeros past the end)."""
        block = self.renderer.render(self.notes, self.position, frames)
        self.position += frames
        return block


class NullDevice:
    """Plays nothing: keeps the blocks it was handed and when (for tests and the benchmark)."""

    name = "no audio output"

    def __init__(self):
        self.stream: Optional[PassageStream] = None
        self.blocks: list[np.ndarray] = []
        self.first_block_at: Optional[float] = None  # time.perf_counter() when the first block arrived

    def start(self, stream: PassageStream, first_block: np.ndarray) -> None:
        self.stream = stream
        self.blocks = [first_block]
        self.first_block_at = time.perf_counter()

    def stop(self) -> None:
        self.stream = None

    @property
    def playing(self) -> bool:
        return self.stream is not None

    def close(self) -> None:
        self.stop()


class MiniaudioDevice:
    """The default output through miniaudio (mono float32); a passage that ends stops by itself."""

    def __init__(self, backends: Optional[list] = None):
        import miniaudio

        with _native_stderr_silenced():  # ALSA prints a page of complaints on a machine without a card
            self.device = miniaudio.PlaybackDevice(output_format=miniaudio.SampleFormat.FLOAT32, nchannels=1,
                                                   sample_rate=SAMPLE_RATE, buffersize_msec=60, backends=backends)
        self.name = f"audio output ({self.device.backend})"
        self._stream: Optional[PassageStream] = None

    def start(self, stream: PassageStream, first_block: np.ndarray) -> None:
        self.stop()
        self._stream = stream

        def blocks():
            frames = yield b""
            pending = first_block
            while True:
                if pending is None or len(pending) < frames:
                    more = stream.next_block(frames - (0 if pending is None else len(pending)))
                    pending = more if pending is None else np.concatenate([pending, more])
                frames = yield pending[:frames].tobytes()
                pending = pending[frames:] if len(pending) > frames else None

        generator = blocks()
        next(generator)
        self.device.start(generator)

    def stop(self) -> None:
        if self._stream is not None:
            self.device.stop()
            self._stream = None

    @property
    def playing(self) -> bool:
        return self._stream is not None and not self._stream.finished

    def close(self) -> None:
        self.stop()
        self.device.close()


class MidiPortDevice:
    """``--port NAME``: the passage's notes as MIDI messages, timed on a thread of their own."""

    def __init__(self, port_name: str):
        import mido

        try:
            mido.set_backend("mido.backends.rtmidi", load=True)
            self.port = mido.open_output(port_name)
        except ImportError:
            raise ModelError("--port needs python-rtmidi; install it with: pip install python-rtmidi") from None
        except (OSError, IOError) as error:
            names = ", ".join(mido.get_output_names()) or "none"
            raise UsageError(f"no MIDI output port {port_name!r} ({error}); ports here: {names}") from None
        self.name = f"MIDI port {port_name}"
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self.first_block_at: Optional[float] = None

    def start(self, stream: PassageStream, first_block: np.ndarray) -> None:
        import mido

        self.stop()
        events = sorted([(note.start_s, 1, note) for note in stream.notes] + [(note.end_s, 0, note) for note in stream.notes],
                        key=lambda event: (event[0], event[1]))
        self._stop = threading.Event()
        stop = self._stop

        def send():
            began = time.perf_counter()
            for at, is_on, note in events:
                if stop.wait(max(0.0, at - (time.perf_counter() - began))):
                    break
                channel = 9 if note.is_drum else 0
                self.port.send(mido.Message("note_on" if is_on else "note_off", channel=channel, note=note.pitch,
                                            velocity=note.velocity if is_on else 64))
            self.port.send(mido.Message("control_change", channel=0, control=123, value=0))  # all notes off

        self.first_block_at = time.perf_counter()
        self._thread = threading.Thread(target=send, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join(timeout=1)
            self._thread = None

    @property
    def playing(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def close(self) -> None:
        self.stop()
        self.port.close()


@contextlib.contextmanager
def _native_stderr_silenced():
    """File descriptor 2 pointed at the null device for a while: what C libraries print there would
    land in the middle of the app's screen (Python's own errors still reach sys.stderr after)."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def open_device(port: Optional[str] = None, make_audio: Optional[Callable[[], object]] = None):
    """The device to play through, and a sentence to say once when it is not the one asked for.

    ``--port`` errors are raised (the user named the port); an audio backend that does not load
    gives the null device and a notice.
    """
    if port is not None:
        return MidiPortDevice(port), None
    try:
        return (make_audio or MiniaudioDevice)(), None
    except Exception as error:  # noqa: BLE001 - any backend failure means: no sound, say so once
        return NullDevice(), f"no audio output could be opened ({type(error).__name__}: {error}); running silently"


class Player:
    """Plays passages through one device with one renderer; one passage at a time."""

    def __init__(self, device, renderer: Renderer):
        self.device = device
        self.renderer = renderer

    def play(self, notes: Sequence[SoundingNote]) -> None:
        stream = PassageStream(notes, self.renderer)
        first = stream.next_block(BLOCK_FRAMES)  # on this thread: the keypress waits for this one block
        self.device.start(stream, first)

    def stop(self) -> None:
        self.device.stop()

    @property
    def playing(self) -> bool:
        return self.device.playing

    def close(self) -> None:
        self.device.close()
