"""Audio in-process: the SoundFont reader and sampler, the built-in synth, the search order, --wav files."""

import wave

import numpy as np
import pytest

import clsm_cli.music.audio as audio
from clsm_cli.errors import OutputError
from clsm_cli.music.audio import HOW_TO_GET_ONE, choose_renderer, find_soundfont, render_wav, system_soundfont_paths
from clsm_cli.music.soundfont import SoundFontError, read_soundfont
from clsm_cli.music.synth import SAMPLE_RATE, BuiltinSynth, SoundFontSynth, SoundingNote
from synthetic_midi.midi_factory import SongSpec, TrackSpec
from synthetic_midi.tiny_soundfont import tiny_soundfont_bytes, write_tiny_soundfont


@pytest.fixture
def no_system_soundfont(monkeypatch):
    """As on a machine with no SoundFont installed and CLSM_SOUNDFONT unset."""
    monkeypatch.delenv(audio.SOUNDFONT_ENV, raising=False)
    monkeypatch.setattr(audio, "system_soundfont_paths", lambda platform=None: [])


@pytest.fixture
def tiny_sf2(tmp_path):
    return write_tiny_soundfont(tmp_path / "tiny.sf2")


def peak_frequency(samples: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.argmax(spectrum) * SAMPLE_RATE / len(samples))


def test_audio_and_the_synth_agree_on_the_sample_rate():
    assert audio.SAMPLE_RATE == SAMPLE_RATE


def test_the_tiny_soundfont_reads_with_one_looped_voice_per_key(tiny_sf2):
    soundfont = read_soundfont(tiny_sf2)
    (voice,) = soundfont.voices(0, 0, 69, 100)
    assert voice.looped and voice.sample.root_key == 69 and voice.cents == 0
    assert soundfont.voices(0, 0, 81, 100)[0].cents == 1200
    assert soundfont.preset_for(0, 40) == (0, 0)  # an absent program plays the file's first preset


@pytest.mark.parametrize("pitch, hertz", [(69, 440.0), (81, 880.0), (57, 220.0)])
def test_the_soundfont_synth_plays_each_note_at_its_pitch(tiny_sf2, pitch, hertz):
    synth = SoundFontSynth(read_soundfont(tiny_sf2))
    samples = synth.render([SoundingNote(0.0, 1.0, pitch, 100)])
    held = samples[int(0.2 * SAMPLE_RATE) : int(0.8 * SAMPLE_RATE)]  # past the sample's start: the loop
    assert abs(peak_frequency(held) - hertz) < 3
    assert np.abs(held).max() > 0.05
    after = samples[int(1.0 * SAMPLE_RATE + synth.tail_s(SoundingNote(0, 1, pitch, 100)) * SAMPLE_RATE) - 10 :]
    assert np.abs(after).max() < 1e-3  # released


def test_any_stretch_renders_as_the_same_samples_as_the_whole(tiny_sf2):
    notes = [SoundingNote(0.05, 0.4, 64, 90), SoundingNote(0.3, 0.9, 71, 70), SoundingNote(0.2, 0.25, 38, 100, is_drum=True)]
    for synth in (SoundFontSynth(read_soundfont(tiny_sf2)), BuiltinSynth()):
        whole = synth.render(notes)
        assert np.allclose(synth.render(notes, 9000, 4096), whole[9000:13096], atol=1e-6)


def test_the_builtin_synth_has_harmonics_an_envelope_and_drum_bursts():
    synth = BuiltinSynth()
    tone = synth.render([SoundingNote(0.0, 1.0, 69, 100)])
    spectrum = np.abs(np.fft.rfft(tone[: SAMPLE_RATE // 2]))  # half a second: 2 Hz per bin
    fundamental, octave = spectrum[440 // 2], spectrum[880 // 2]
    assert octave > 0.1 * fundamental  # not a bare sine
    assert abs(tone[0]) < 1e-3 and np.abs(tone[:200]).max() < np.abs(tone[2000:4000]).max()  # an attack, no click
    drum = synth.render([SoundingNote(0.0, 0.5, 38, 100, is_drum=True)])
    assert np.abs(drum[: SAMPLE_RATE // 20]).max() > 0.05  # a drum sounds (the old sine fallback left drums out)
    assert len(drum) < 0.8 * SAMPLE_RATE and np.abs(drum[-500:]).max() < 0.02  # a short burst


def test_search_order_is_the_option_then_the_variable_then_the_system(tmp_path, monkeypatch, tiny_sf2):
    other = write_tiny_soundfont(tmp_path / "other.sf2")
    system = write_tiny_soundfont(tmp_path / "system.sf2")
    monkeypatch.setattr(audio, "system_soundfont_paths", lambda platform=None: [tmp_path / "absent.sf2", system])
    monkeypatch.delenv(audio.SOUNDFONT_ENV, raising=False)
    assert find_soundfont() == (system, None)
    monkeypatch.setenv(audio.SOUNDFONT_ENV, str(other))
    assert find_soundfont() == (other, None)
    assert find_soundfont(tiny_sf2) == (tiny_sf2, None)
    path, notice = find_soundfont(tmp_path / "missing.sf2")
    assert path is None and "missing.sf2 (--soundfont) does not exist" in notice


def test_system_locations_per_platform_and_the_user_folder_first(monkeypatch, tmp_path):
    monkeypatch.setenv("CLSM_HOME", str(tmp_path))
    (tmp_path / "soundfonts").mkdir()
    mine = write_tiny_soundfont(tmp_path / "soundfonts" / "mine.sf2")
    banks = tmp_path / "Banks"
    banks.mkdir()
    bank = write_tiny_soundfont(banks / "gm.sf2")
    monkeypatch.setattr(audio, "_MACOS", (str(banks),))
    monkeypatch.setattr(audio, "_WINDOWS", (str(banks),))
    for platform in ("darwin", "win32"):
        assert system_soundfont_paths(platform) == [mine, bank]
    assert system_soundfont_paths("linux")[0] == mine
    # What the README documents.
    assert "/usr/share/sounds/sf2/FluidR3_GM.sf2" in audio._LINUX and "/usr/share/soundfonts" in audio._LINUX


def test_no_soundfont_means_the_builtin_synth_and_one_line_how_to(no_system_soundfont):
    choice = choose_renderer()
    assert choice.name == "built-in synth" and choice.notice == HOW_TO_GET_ONE
    assert "\n" not in HOW_TO_GET_ONE and "--soundfont" in HOW_TO_GET_ONE


@pytest.mark.parametrize("content, reason", [
    (b"not a soundfont at all", "is not a SoundFont"),
    (tiny_soundfont_bytes()[:300], "is not a usable SoundFont|has no preset data|has no sample data"),
])
def test_a_broken_soundfont_is_one_sentence_then_the_fallback(tmp_path, no_system_soundfont, content, reason):
    broken = tmp_path / "broken.sf2"
    broken.write_bytes(content)
    with pytest.raises(SoundFontError, match=reason):
        read_soundfont(broken)
    choice = choose_renderer(broken)
    assert choice.name == "built-in synth"
    assert "broken.sf2" in choice.notice and choice.notice.endswith("so audio uses the built-in synth")


def song_with_drums(path):
    melody = TrackSpec(name="melody", notes=[(i * 480, i * 480 + 400, 60 + i % 5, 90) for i in range(8)])
    drums = TrackSpec(name="drums", channel=9, notes=[(i * 240, i * 240 + 60, 38 if i % 2 else 42, 100) for i in range(16)])
    return SongSpec(tracks=[melody, drums]).write(path)


def test_render_wav_uses_the_soundfont_given(tmp_path, tiny_sf2, no_system_soundfont):
    song = song_with_drums(tmp_path / "song.mid")
    assert render_wav(song, tmp_path / "song.wav", soundfont=tiny_sf2) == "SoundFont tiny.sf2"
    with wave.open(str(tmp_path / "song.wav")) as stream:
        assert stream.getframerate() == SAMPLE_RATE and stream.getnframes() > SAMPLE_RATE
        samples = np.frombuffer(stream.readframes(stream.getnframes()), dtype="<i2")
    assert np.abs(samples).max() > 3000
    with pytest.raises(OutputError, match="already exists"):
        render_wav(song, tmp_path / "song.wav", soundfont=tiny_sf2)


def test_render_wav_falls_back_to_the_builtin_synth(tmp_path, no_system_soundfont, monkeypatch):
    song = song_with_drums(tmp_path / "song.mid")
    assert render_wav(song, tmp_path / "song.wav") == "built-in synth"
    with wave.open(str(tmp_path / "song.wav")) as stream:
        assert stream.getnframes() > SAMPLE_RATE // 2 and stream.getsampwidth() == 2
