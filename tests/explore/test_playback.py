"""Playback: the first block on the caller's thread, the rest as the device pulls, and the devices."""

import time

import numpy as np
import pytest

from clsm_cli.errors import UsageError
from clsm_cli.explore.playback import BLOCK_FRAMES, MiniaudioDevice, NullDevice, PassageStream, Player, open_device
from clsm_cli.music.synth import SAMPLE_RATE, BuiltinSynth, SoundingNote

NOTES = [SoundingNote(0.0, 0.2, 69, 100), SoundingNote(0.1, 0.3, 38, 90, is_drum=True)]


def test_a_stream_gives_the_whole_render_block_by_block():
    synth = BuiltinSynth()
    stream = PassageStream(NOTES, synth)
    blocks = []
    while not stream.finished:
        blocks.append(stream.next_block(BLOCK_FRAMES))
    whole = synth.render(NOTES)
    assert np.allclose(np.concatenate(blocks)[: len(whole)], whole, atol=1e-6)


def test_the_player_hands_the_first_block_before_returning():
    device = NullDevice()
    player = Player(device, BuiltinSynth())
    player.play(NOTES)
    assert player.playing and len(device.blocks[0]) == BLOCK_FRAMES and device.blocks[0].any()
    player.stop()
    assert not player.playing


def test_miniaudio_pulls_the_passage_through_its_null_backend_and_stops_at_its_end():
    import miniaudio

    device = MiniaudioDevice(backends=[miniaudio.Backend.NULL])
    player = Player(device, BuiltinSynth())
    try:
        player.play(NOTES)
        stream = device._stream
        assert stream.position >= BLOCK_FRAMES  # the first block, on this thread
        deadline = time.monotonic() + 5
        while player.playing and time.monotonic() < deadline:
            time.sleep(0.05)
        assert stream.finished and stream.position >= 0.3 * SAMPLE_RATE and not player.playing  # pulled to the end
    finally:
        player.close()


def test_no_audio_backend_means_the_null_device_and_one_sentence():
    def broken():
        raise RuntimeError("no backend")

    device, notice = open_device(make_audio=broken)
    assert isinstance(device, NullDevice) and notice.endswith("running silently") and "no backend" in notice


class FakePort:
    def __init__(self):
        self.sent = []

    def send(self, message):
        self.sent.append((time.perf_counter(), message))

    def close(self):
        pass


def test_a_midi_port_gets_the_notes_in_time(monkeypatch):
    import mido

    port = FakePort()
    monkeypatch.setattr(mido, "set_backend", lambda *args, **kwargs: None)
    monkeypatch.setattr(mido, "open_output", lambda name: port)
    device, notice = open_device(port="synth")
    assert notice is None and device.name == "MIDI port synth"
    began = time.perf_counter()
    Player(device, BuiltinSynth()).play(NOTES)
    device._thread.join(timeout=5)
    kinds = [(message.type, getattr(message, "note", None), getattr(message, "channel", None)) for _, message in port.sent]
    assert kinds == [("note_on", 69, 0), ("note_on", 38, 9), ("note_off", 69, 0), ("note_off", 38, 9),
                     ("control_change", None, 0)]
    assert port.sent[2][0] - began >= 0.19  # the first note-off waits for the note's end


def test_a_missing_midi_port_names_the_ports_there(monkeypatch):
    import mido

    def refuse(name):
        raise OSError("unknown port")

    monkeypatch.setattr(mido, "set_backend", lambda *args, **kwargs: None)
    monkeypatch.setattr(mido, "open_output", refuse)
    monkeypatch.setattr(mido, "get_output_names", lambda: ["Midi Through"])
    with pytest.raises(UsageError, match="no MIDI output port 'nope' .*ports here: Midi Through"):
        open_device(port="nope")
