"""editing/window.py and editing/splice.py: the model's window, and generated tokens back to notes."""

from __future__ import annotations

import numpy as np
import pytest

from clsm_cli.constants import HOLD_TOKEN, REST_TOKEN
from clsm_cli.editing.splice import notes_for_writer, splice, target_notes
from clsm_cli.editing.window import build_window
from clsm_cli.engine.draws import candidate_draws
from clsm_cli.engine.protocol import TargetSpan
from clsm_cli.music.bars import BarRange, window_around
from clsm_cli.music.tokens import StepNote, pitch_to_token


def test_window_shifts_one_octave_into_range_and_folds_outliers():
    line = [StepNote(0, 4, 43), StepNote(4, 8, 47), StepNote(8, 12, 50), StepNote(12, 16, 20)]
    window = build_window(line, 0, 16, 16, 128)
    assert window.octave_shift == 12  # 43, 47, 50 -> 55, 59, 62; 20 folds up for the model only
    assert list(window.tokens[[0, 4, 8, 12]]) == [pitch_to_token(p) for p in (55, 59, 62, 56)]


def test_window_gives_the_right_context_the_pitch_of_a_note_held_into_it():
    line = [StepNote(0, 20, 60), StepNote(20, 40, 64), StepNote(40, 48, 67)]  # 64 sounds across step 32
    window = build_window(line, 0, 16, 16, 128)
    assert window.tokens[32] == pitch_to_token(64)
    assert window.tokens[16] == HOLD_TOKEN  # the target's own leading hold stays for the encoder


def test_window_right_context_inside_a_rest_starts_with_rest():
    line = [StepNote(0, 20, 60), StepNote(40, 48, 67)]
    window = build_window(line, 0, 16, 16, 128)
    assert window.tokens[32] == REST_TOKEN


def test_window_before_the_song_start_is_rest_and_canonical():
    window = build_window([StepNote(0, 8, 60)], -64, 0, 64, 128)
    assert window.target == TargetSpan(64, 64)
    assert window.tokens[0] == REST_TOKEN and np.all(window.tokens[1:64] == HOLD_TOKEN)
    assert window.tokens[64] == pitch_to_token(60)


@pytest.mark.parametrize(
    ("num_bars", "first", "last", "expected"),
    [(20, 9, 10, (6, 13)), (20, 1, 2, (1, 8)), (20, 19, 20, (13, 20)), (5, 2, 3, (1, 5)), (20, 3, 6, (1, 8))],
)
def test_centred_window_bars_are_clamped_to_the_song(num_bars, first, last, expected):
    assert tuple(window_around(BarRange(first, last), num_bars, 8)) == expected


def test_long_targets_split_into_four_bar_chunks_left_to_right():
    assert [tuple(chunk) for chunk in BarRange(3, 12).chunks(4)] == [(3, 6), (7, 10), (11, 12)]
    assert [tuple(chunk) for chunk in BarRange(5, 5).chunks(4)] == [(5, 5)]
    first, again, other = (candidate_draws(7, k, 4, 16, chunk=1).latent_noise for k in (1, 1, 2))
    assert np.array_equal(first, again) and not np.array_equal(first, other)


# --- tokens back to notes ------------------------------------------------------------------------


def test_leading_hold_is_a_new_note_of_the_pitch_sounding_before():
    line = [StepNote(8, 20, 72)]
    window = build_window(line, 0, 16, 16, 128)  # shift 0
    tokens = np.array([HOLD_TOKEN] * 4 + [pitch_to_token(67)] + [HOLD_TOKEN] * 11, dtype=np.uint8)
    notes = target_notes(tokens, window, line)
    assert notes == [StepNote(16, 20, 72, tied_from_before=True), StepNote(20, 32, 67)]
    spliced = splice(line, 16, 32, notes)
    # The note before ends where the hold, a new note of its pitch, starts: never extended.
    assert spliced == [StepNote(8, 16, 72), StepNote(16, 20, 72), StepNote(20, 32, 67)]
    assert notes_for_writer(spliced, 16, 32) == [StepNote(16, 20, 72), StepNote(20, 32, 67)]


def test_leading_hold_after_a_rest_is_more_rest():
    line = [StepNote(0, 8, 72)]
    window = build_window(line, 0, 16, 16, 128)
    tokens = np.array([HOLD_TOKEN] * 8 + [pitch_to_token(67)] + [HOLD_TOKEN] * 7, dtype=np.uint8)
    assert target_notes(tokens, window, line) == [StepNote(24, 32, 67)]


def test_generated_pitches_are_shifted_back_to_the_songs_octave():
    line = [StepNote(0, 16, 43), StepNote(32, 48, 45)]
    window = build_window(line, 0, 16, 16, 128)
    tokens = np.array([pitch_to_token(60)] + [HOLD_TOKEN] * 15, dtype=np.uint8)
    assert target_notes(tokens, window, line) == [StepNote(16, 32, 48)]


def test_splice_replaces_target_notes_whole_and_cuts_a_note_only_where_a_new_one_starts():
    line = [StepNote(0, 20, 60), StepNote(28, 40, 64), StepNote(40, 44, 65)]
    spliced = splice(line, 16, 32, [StepNote(16, 24, 70)])
    # (0, 20) ends where the new note starts; (28, 40) starts in the target: gone whole, no re-strike.
    assert spliced == [StepNote(0, 16, 60), StepNote(16, 24, 70), StepNote(40, 44, 65)]
    # A note that has ended before the first new note starts keeps its end, inside the target too.
    assert splice(line, 16, 32, [StepNote(24, 28, 70)]) == [StepNote(0, 20, 60), StepNote(24, 28, 70),
                                                            StepNote(40, 44, 65)]


def test_a_note_from_before_is_untouched_when_nothing_new_starts_while_it_sounds():
    assert splice([StepNote(12, 20, 64)], 16, 32, []) == [StepNote(12, 20, 64)]  # nothing new: untouched


def test_a_hold_through_the_whole_target_is_a_new_note():
    line = [StepNote(8, 40, 60)]
    spliced = splice(line, 16, 32, [StepNote(16, 32, 60, tied_from_before=True)])
    assert spliced == [StepNote(8, 16, 60), StepNote(16, 32, 60)]


def test_a_triplet_model_sees_the_songs_triplets_also_when_a_short_sketch_is_looped():
    from pathlib import Path

    from clsm_cli.constants import TRIPLET_TOKEN
    from clsm_cli.editing.prepare import prepare_song
    from clsm_cli.editing.window import centred_window
    from clsm_cli.models.config import preset_config, with_grid
    from clsm_cli.music.bars import BarRange as Bars
    from clsm_cli.timebase import TRIPLET_GRID
    from synthetic_midi.midi_factory import TrackSpec, make_midi

    import tempfile

    config = with_grid(preset_config("clsm", "tiny"), TRIPLET_GRID)
    with tempfile.TemporaryDirectory() as folder:  # 2 bars: a swung bar (320 + 160), then a held note
        notes = [(q * 480 + offset, q * 480 + offset + length, 67 + q, 90) for q in range(4)
                 for offset, length in ((0, 320), (320, 160))] + [(1920, 3840, 72, 90)]
        path = make_midi(Path(folder) / "sketch.mid", [TrackSpec(notes, name="Lead")])
        prepared = prepare_song(path, Bars(1, 2), None)  # the whole sketch: nothing around it but itself
        window = centred_window(prepared, prepared.line, Bars(1, 2), config)
        sixteenths = centred_window(prepared, prepared.line, Bars(1, 2), preset_config("clsm", "tiny"))
    assert window.looped and sixteenths.looped
    markers = np.flatnonzero(window.tokens == TRIPLET_TOKEN)
    assert len(markers) >= 8 and not (markers % 4).any()  # every repeat of bar 1 shows its triplets
    assert TRIPLET_TOKEN not in sixteenths.tokens  # a 16th-grid model sees 16ths as before
