"""The melodico-rhythmic encoding: round trips against the quantized original, windows, shifts."""

from pathlib import Path

import numpy as np
import pytest

from clsm_cli.constants import HOLD_TOKEN, MAX_PITCH, MIN_PITCH, REST_TOKEN, START_TOKEN, VOCAB_SIZE, WINDOW_STEPS
from clsm_cli.music.bars import BarRange, song_bars, window_around
from clsm_cli.music.melody import choose_melody_track, quantize_track, reduce_to_monophony
from clsm_cli.music.midi_read import read_midi, song_from_bytes
from clsm_cli.constants import vocabulary_hash
from clsm_cli.music.tokens import (
    TOKEN_DTYPE,
    StepNote,
    cut_window,
    decode_tokens,
    encode_notes,
    fold_into_range,
    longest_rest_steps,
    octave_shift_into_range,
    pitch_to_token,
    resolve_leading_hold,
    sounding_token_at,
    token_to_pitch,
    tokens_to_text,
)
from synthetic_midi.midi_factory import random_multitrack_song
from tests.music.token_checks import is_canonical, is_music_tokens, transpose_tokens

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
H, R = HOLD_TOKEN, REST_TOKEN


def tok(pitch):
    return pitch_to_token(pitch)


def clip_to_window(notes, start, length):
    """What a window of the line holds: notes cut to [start, start + length)."""
    clipped = []
    for note in notes:
        first, last = max(note.start_step, start), min(note.end_step, start + length)
        if last > first:
            clipped.append(StepNote(first, last, note.pitch))
    return clipped


def quantized_melody(song):
    bars = song_bars(song)
    track = choose_melody_track(song, None)
    line, _ = reduce_to_monophony(quantize_track(track, bars, song.ticks_per_beat).notes)
    return line, bars[-1].end_step


@pytest.mark.parametrize("seed", range(8))
def test_round_trip_against_the_quantized_original(seed):
    song = song_from_bytes(random_multitrack_song(seed, jitter_ticks=seed % 3 * 5).to_bytes())
    line, total_steps = quantized_melody(song)
    tokens = encode_notes(line, total_steps)
    assert tokens.dtype == TOKEN_DTYPE and len(tokens) == total_steps and is_canonical(tokens)
    assert decode_tokens(tokens) == line
    # Every 8-bar window (1-bar stride on the step grid) decodes to the original, clipped.
    for start in range(0, max(1, total_steps - WINDOW_STEPS + 1), 16):
        window = cut_window(tokens, start, WINDOW_STEPS)
        assert is_canonical(window) and is_music_tokens(window)
        assert decode_tokens(window, start_step=start) == clip_to_window(line, start, WINDOW_STEPS)
        assert np.array_equal(window, encode_notes(line, WINDOW_STEPS, start_step=start))


@pytest.mark.parametrize("fixture", ["two_tracks.mid", "waltz.mid", "type0_mixed.mid"])
def test_round_trip_of_fixture_melodies(fixture):
    line, total_steps = quantized_melody(read_midi(FIXTURES / fixture))
    line = [StepNote(n.start_step, n.end_step, fold_into_range(n.pitch)) for n in line]
    assert decode_tokens(encode_notes(line, total_steps)) == line


def test_encoding_example():
    notes = [StepNote(0, 3, 60), StepNote(5, 6, 62), StepNote(6, 8, 64)]
    tokens = encode_notes(notes, 10)
    assert list(tokens) == [tok(60), H, H, R, H, tok(62), tok(64), H, R, H]
    assert tokens_to_text(tokens, steps_per_bar=4) == "60 __ __ R | __ 62 64 __ | R __"


def test_a_note_sounding_into_the_window_starts_it_canonically():
    tokens = encode_notes([StepNote(0, 6, 67), StepNote(6, 8, 69)], 4, start_step=4)
    assert list(tokens) == [tok(67), H, tok(69), H]


def test_encode_refuses_overlaps_and_pitches_without_a_token():
    with pytest.raises(ValueError, match="overlap"):
        encode_notes([StepNote(0, 4, 60), StepNote(2, 6, 62)], 8)
    with pytest.raises(ValueError, match="55..84"):
        encode_notes([StepNote(0, 4, MAX_PITCH + 1)], 8)


def test_empty_and_silent_windows():
    assert len(encode_notes([], 0)) == 0
    assert list(encode_notes([], 4)) == [R, H, H, H]
    assert decode_tokens(np.array([], dtype=TOKEN_DTYPE)) == []
    assert decode_tokens([R, H, H]) == []


def test_leading_hold_decodes_as_a_tie_and_can_be_resolved():
    tokens = np.array([H, H, tok(62), H], dtype=TOKEN_DTYPE)
    assert not is_canonical(tokens)
    assert decode_tokens(tokens, start_step=16) == [StepNote(16, 18, None, tied_from_before=True), StepNote(18, 20, 62)]
    resolved = resolve_leading_hold(tokens, tok(60))
    assert list(resolved) == [tok(60), H, tok(62), H] and list(tokens)[0] == H  # the input is not modified
    assert decode_tokens(resolved) == [StepNote(0, 2, 60), StepNote(2, 4, 62)]


def test_sounding_token_walks_back_over_holds():
    tokens = np.array([tok(60), H, R, H, H, tok(64)], dtype=TOKEN_DTYPE)
    assert [sounding_token_at(tokens, i) for i in range(6)] == [tok(60), tok(60), R, R, R, tok(64)]
    assert sounding_token_at(np.array([H, H], dtype=TOKEN_DTYPE), 1) == R
    assert list(cut_window(tokens, 3, 3)) == [R, H, tok(64)]


@pytest.mark.parametrize("bad", [START_TOKEN, VOCAB_SIZE - 1, VOCAB_SIZE, 200, -1])
def test_decode_refuses_tokens_that_are_not_music(bad):
    with pytest.raises(ValueError, match="step 1"):
        decode_tokens([tok(60), bad])


def test_music_token_checks_and_pitch_tokens():
    assert is_music_tokens(np.array([0, 29, R, H])) and not is_music_tokens(np.array([0, START_TOKEN]))
    assert token_to_pitch(tok(MIN_PITCH)) == MIN_PITCH and token_to_pitch(tok(MAX_PITCH)) == MAX_PITCH
    assert token_to_pitch(R) is None and token_to_pitch(H) is None and token_to_pitch(START_TOKEN) is None
    with pytest.raises(ValueError):
        pitch_to_token(MIN_PITCH - 1)


def test_longest_rest_counts_steps_of_rest():
    tokens = np.array([tok(60), R, H, H, tok(62), R, H, H, H, H, tok(64)], dtype=TOKEN_DTYPE)
    assert longest_rest_steps(tokens) == 5
    assert longest_rest_steps(np.array([tok(60), H], dtype=TOKEN_DTYPE)) == 0


def test_transpose_keeps_rests_and_holds_and_refuses_leaving_the_range():
    tokens = np.array([tok(60), H, R, tok(80)], dtype=TOKEN_DTYPE)
    assert list(transpose_tokens(tokens, 4)) == [tok(64), H, R, tok(84)]
    assert list(transpose_tokens(tokens, -5)) == [tok(55), H, R, tok(75)]
    assert transpose_tokens(tokens, 5) is None
    assert transpose_tokens(tokens, -6) is None


def test_octave_shift_and_fold():
    assert octave_shift_into_range([]) == 0
    assert octave_shift_into_range([60, 72]) == 0
    assert octave_shift_into_range([36, 40, 43]) == 24
    assert octave_shift_into_range([90, 96, 100]) == -24
    assert octave_shift_into_range([60, 90]) == 0  # 0 and -12 both fit one pitch: the smaller shift wins
    assert [fold_into_range(p) for p in (30, 55, 84, 85, 127)] == [66, 55, 84, 73, 79]


def window_bars(num_song_bars, first, last):
    return tuple(window_around(BarRange(first, last), num_song_bars))


def test_window_bars_centre_on_the_target_and_clamp():
    assert window_bars(20, 10, 11) == (7, 14)
    assert window_bars(20, 10, 10) == (7, 14)
    assert window_bars(20, 1, 2) == (1, 8)
    assert window_bars(20, 19, 20) == (13, 20)
    assert window_bars(5, 2, 3) == (1, 5)
    for first in range(1, 21):
        for length in range(1, 5):
            last = min(20, first + length - 1)
            start, end = window_bars(20, first, last)
            assert end - start == 7 and start <= first and last <= end


def test_vocabulary_hash_is_stable():
    # Changing the vocabulary invalidates every checkpoint and shard: it must be deliberate.
    assert vocabulary_hash() == vocabulary_hash()
    assert len(vocabulary_hash()) == 16 and int(vocabulary_hash(), 16) >= 0
    assert vocabulary_hash() == "8052b2b12c1cae03"
