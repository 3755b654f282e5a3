"""Audio: which renderer plays (a SoundFont, else the built-in synth), and MIDI files rendered to WAV.

SoundFont search order (the first that exists wins):

1. ``--soundfont PATH`` (``soundfont`` below);
2. the ``CLSM_SOUNDFONT`` environment variable;
3. the system locations of :func:`system_soundfont_paths`: on Linux the Debian/Fedora/Arch General
   MIDI packages (``/usr/share/sounds/sf2/FluidR3_GM.sf2``, ``/usr/share/soundfonts/*.sf2``, …);
   on macOS ``~/Library/Audio/Sounds/Banks`` and Homebrew's ``share/soundfonts``; on Windows
   ``%USERPROFILE%\\soundfonts`` and ``C:\\soundfonts``; everywhere the ``soundfonts`` folder of
   clsm's user data folder (``CLSM_HOME`` or the platform's, as for models).

Rendering runs in-process (``music/soundfont.py``, ``music/synth.py``): no external program.
A missing or broken SoundFont is never fatal: :func:`choose_renderer` says why in one sentence
and falls back to the built-in synth; the renderer's name goes into summaries and ``--json``.
"""

from __future__ import annotations

import functools
import io
import os
import sys
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Optional, Sequence

import numpy as np

from clsm_cli.errors import InputFileError
from clsm_cli.music.midi_read import file_identity, read_midi
from clsm_cli.music.midi_write import check_output_path, write_output_bytes

if TYPE_CHECKING:  # the synth and the SoundFont reader load when audio is first rendered
    from clsm_cli.music.synth import Renderer, SoundingNote

SAMPLE_RATE = 44_100  # the same as synth.SAMPLE_RATE (a test keeps them equal)

SOUNDFONT_ENV = "CLSM_SOUNDFONT"
HOW_TO_GET_ONE = (
    "no SoundFont found, so audio uses the built-in synth; for real instruments install a General MIDI "
    "SoundFont (Debian/Ubuntu: apt install fluid-soundfont-gm) or give one with --soundfont FILE.sf2 "
    f"or {SOUNDFONT_ENV}"
)
_LINUX = ("/usr/share/sounds/sf2/FluidR3_GM.sf2", "/usr/share/soundfonts/FluidR3_GM.sf2",
          "/usr/share/sounds/sf2/default-GM.sf2", "/usr/share/soundfonts/default.sf2",
          "/usr/share/sounds/sf2/TimGM6mb.sf2", "/usr/share/soundfonts/FluidR3_GM2-2.sf2",
          "/usr/share/soundfonts", "/usr/share/sounds/sf2")  # then any other .sf2 there
_MACOS = ("~/Library/Audio/Sounds/Banks", "/Library/Audio/Sounds/Banks", "/opt/homebrew/share/soundfonts",
          "/usr/local/share/soundfonts")
_WINDOWS = ("~/soundfonts", "C:/soundfonts")


@dataclass(frozen=True)
class RendererChoice:
    """The renderer that plays, and a sentence for the user when it is not the one they would want."""

    renderer: "Renderer"
    notice: Optional[str] = None

    @property
    def name(self) -> str:
        return self.renderer.name


def user_soundfont_dir() -> Path:
    """``$CLSM_HOME/soundfonts``, else ``soundfonts`` in the platform's user data folder."""
    home = os.environ.get("CLSM_HOME")
    if home:
        return Path(home).expanduser() / "soundfonts"
    import platformdirs

    return Path(platformdirs.user_data_dir("clsm")) / "soundfonts"


def system_soundfont_paths(platform: str = sys.platform) -> list[Path]:
    """Where installed General MIDI SoundFonts are looked for, in order (files and folders of .sf2)."""
    places = [user_soundfont_dir()]
    if platform.startswith("linux"):
        places += [Path(path) for path in _LINUX]
    elif platform == "darwin":
        places += [Path(path).expanduser() for path in _MACOS]
    elif platform.startswith("win"):
        places += [Path(path).expanduser() for path in _WINDOWS]
    found = []
    for place in places:
        if place.is_dir():
            found += [path for path in sorted(place.glob("*.sf2")) if path not in found]
        elif place.suffix == ".sf2" and place not in found:
            found.append(place)
    return found


def find_soundfont(soundfont: Optional[os.PathLike | str] = None) -> tuple[Optional[Path], Optional[str]]:
    """The SoundFont to use (None: none), and a sentence when one that was asked for is missing."""
    for source, asked in ((soundfont, "--soundfont"), (os.environ.get(SOUNDFONT_ENV) or None, SOUNDFONT_ENV)):
        if source is None:
            continue
        path = Path(source).expanduser()
        if path.is_file():
            return path, None
        return None, f"the SoundFont {path} ({asked}) does not exist, so audio uses the built-in synth"
    return next((path for path in system_soundfont_paths() if path.is_file()), None), None


def choose_renderer(soundfont: Optional[os.PathLike | str] = None) -> RendererChoice:
    """The SoundFont synth when a SoundFont is found and reads, else the built-in synth and why.

    The same SoundFont file (unchanged since) is read once per process: a batch renders every
    output with one renderer."""
    from clsm_cli.music.synth import BuiltinSynth

    path, missing = find_soundfont(soundfont)
    if path is None:
        return RendererChoice(BuiltinSynth(), missing or HOW_TO_GET_ONE)
    try:
        resolved, mtime_ns, size = file_identity(path)
        return _soundfont_choice(Path(resolved), mtime_ns, size)
    except OSError as error:
        return RendererChoice(BuiltinSynth(), f"the SoundFont {path} cannot be read ({error.strerror or error}), "
                                              "so audio uses the built-in synth")


@functools.lru_cache(maxsize=4)
def _soundfont_choice(path: Path, mtime_ns: int, size: int) -> RendererChoice:
    from clsm_cli.music.soundfont import read_soundfont
    from clsm_cli.music.synth import BuiltinSynth, SoundFontSynth

    try:
        return RendererChoice(SoundFontSynth(read_soundfont(path)))
    except InputFileError as error:
        return RendererChoice(BuiltinSynth(), f"{error.message}, so audio uses the built-in synth")


def midi_file_notes(midi_path: Path) -> list["SoundingNote"]:
    """Every note of a MIDI file in seconds (tempo changes applied), with its program and drum flag."""
    import pretty_midi

    from clsm_cli.music.synth import SoundingNote

    read_midi(midi_path)  # one sentence for a bad file, before pretty_midi sees it
    try:
        midi = pretty_midi.PrettyMIDI(str(midi_path))
    except Exception as error:  # noqa: BLE001 - a file read_midi accepts but pretty_midi does not
        raise InputFileError(f"{midi_path.name} could not be read for audio ({error})") from None
    return [SoundingNote(float(note.start), float(note.end), int(note.pitch), int(note.velocity),
                         int(instrument.program), bool(instrument.is_drum))
            for instrument in midi.instruments for note in instrument.notes]


def wav_bytes(samples: np.ndarray, sample_rate: int = SAMPLE_RATE, peak: float = 0.8) -> bytes:
    """Mono float samples as a 16-bit WAV file, scaled so that the loudest sample is ``peak``."""
    samples = np.asarray(samples, dtype=np.float64)
    loudest = float(np.max(np.abs(samples))) if samples.size else 0.0
    if loudest > 0:
        samples = samples * (peak / loudest)
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as stream:
        stream.setnchannels(1)
        stream.setsampwidth(2)
        stream.setframerate(sample_rate)
        stream.writeframes(pcm.tobytes())
    return buffer.getvalue()


def render_notes(notes: Sequence["SoundingNote"], renderer: "Renderer") -> np.ndarray:
    """The whole mix of ``notes``, float32 mono."""
    return renderer.render(notes)


def render_wav(midi_path: str | os.PathLike, wav_path: str | os.PathLike, force: bool = False,
               soundfont: Optional[os.PathLike | str] = None) -> str:
    """Render a MIDI file to a WAV file in-process with :func:`choose_renderer`'s renderer (the
    caller tells the user its notice once); returns the renderer's name."""
    midi_path, wav_path = Path(midi_path), Path(wav_path)
    check_output_path(wav_path, force, midi_path)
    renderer = choose_renderer(soundfont).renderer
    write_output_bytes(wav_path, wav_bytes(render_notes(midi_file_notes(midi_path), renderer)), force)
    return renderer.name
