"""Audio previews: a MIDI file rendered to WAV, with fluidsynth when installed, else sine tones."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from clsm_cli.errors import InputFileError, OutputError
from clsm_cli.music.midi_read import read_midi
from clsm_cli.music.midi_write import check_output_path, write_output_bytes

SOUNDFONT_PATHS = (
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "/usr/share/soundfonts/FluidR3_GM.sf2",
    "/usr/share/sounds/sf2/default-GM.sf2",
    "/usr/share/soundfonts/default.sf2",
    "/usr/share/sounds/sf2/TimGM6mb.sf2",
)


def find_soundfont() -> str | None:
    """A General MIDI soundfont installed in a usual place, or None."""
    return next((path for path in SOUNDFONT_PATHS if os.path.isfile(path)), None)


def render_wav(midi_path: str | os.PathLike, wav_path: str | os.PathLike, force: bool = False) -> str:
    """Render a MIDI file to a WAV file; returns the renderer used.

    ``fluidsynth`` with a General MIDI soundfont when both are installed (real instruments);
    otherwise pretty_midi's sine-wave synthesis (every part as sine tones, drums left out).
    """
    midi_path, wav_path = Path(midi_path), Path(wav_path)
    check_output_path(wav_path, force, midi_path)
    fluidsynth, soundfont = shutil.which("fluidsynth"), find_soundfont()
    if fluidsynth and soundfont:
        with tempfile.TemporaryDirectory() as folder:
            rendered = Path(folder) / "render.wav"
            try:
                result = subprocess.run(
                    [fluidsynth, "-ni", "-q", "-r", "44100", "-F", str(rendered), soundfont, str(midi_path)],
                    capture_output=True,
                    timeout=600,
                )
            except (OSError, subprocess.TimeoutExpired) as error:
                raise OutputError(f"fluidsynth could not render {midi_path.name} ({error})") from None
            if result.returncode != 0 or not rendered.is_file():
                raise OutputError(f"fluidsynth could not render {midi_path.name} (exit code {result.returncode})")
            write_output_bytes(wav_path, rendered.read_bytes(), force)
        return "fluidsynth"
    write_output_bytes(wav_path, _sine_wav_bytes(midi_path), force)
    return "sine tones (pretty_midi)"


def _sine_wav_bytes(midi_path: Path, sample_rate: int = 22_050) -> bytes:
    import wave

    import numpy as np
    import pretty_midi

    read_midi(midi_path)  # one sentence for a bad file, before pretty_midi sees it
    try:
        audio = pretty_midi.PrettyMIDI(str(midi_path)).synthesize(fs=sample_rate)
    except Exception as error:  # noqa: BLE001 - a file read_midi accepts but pretty_midi does not
        raise InputFileError(f"{midi_path.name} could not be synthesized ({error})") from None
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    samples = (audio / peak * 0.8 if peak > 0 else audio) * 32767
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as stream:
        stream.setnchannels(1)
        stream.setsampwidth(2)
        stream.setframerate(sample_rate)
        stream.writeframes(samples.astype("<i2").tobytes())
    return buffer.getvalue()
