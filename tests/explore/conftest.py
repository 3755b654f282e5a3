"""A session over a small multi-track song and the tiny test model, and a player that plays nothing."""

import pytest

from clsm_cli.editing.options import EditOptions
from clsm_cli.explore.playback import NullDevice, Player
from clsm_cli.explore.session import ExploreSession, quiet_models
from clsm_cli.music.bars import BarRange
from clsm_cli.music.soundfont import read_soundfont
from clsm_cli.music.synth import SoundFontSynth
from synthetic_midi.midi_factory import scale_melody, write_song
from synthetic_midi.tiny_soundfont import write_tiny_soundfont


@pytest.fixture
def song(tmp_path):
    return write_song(tmp_path / "song.mid", scale_melody(10))  # melody, bass and drums


@pytest.fixture
def make_session(tiny_model_dir, song, tmp_path):
    def make(bars="3-4", seed=5, num=4, **values):
        options = EditOptions(verb="explore", bars=BarRange.parse(bars), seed=seed, num=num,
                              out_dir=tmp_path / "out", model_arg=str(tiny_model_dir), **values)
        return ExploreSession(song, options, quiet_models(str(tiny_model_dir)))

    return make


@pytest.fixture
def null_player(tmp_path):
    return Player(NullDevice(), SoundFontSynth(read_soundfont(write_tiny_soundfont(tmp_path / "tiny.sf2"))))
