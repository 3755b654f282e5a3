"""music/triplets.py: placing notes on the triplet grid, its tokens, and round trips through ticks."""

import numpy as np
import pytest

from clsm_cli.constants import HOLD_TOKEN, MIN_PITCH, REST_TOKEN, TRIPLET_TOKEN, TRIPLET_VOCAB_SIZE
from clsm_cli.music import melody
from clsm_cli.music.bars import song_bars
from clsm_cli.music.midi_read import song_from_bytes
from clsm_cli.music.tokens import encode_notes
from clsm_cli.music.triplets import (
    FINE_PER_STEP,
    decode_fine_tokens,
    encode_fine_notes,
    fine_to_ticks,
    place_on_triplet_grid,
)
from clsm_cli.music.voices import top_line
from clsm_cli.timebase import SIXTEENTH_GRID, TRIPLET_GRID
from synthetic_midi.midi_factory import TrackSpec, midi_bytes


def song_of(notes, ticks_per_beat=480, meter=(4, 4)):
    """A one-track song of ``(start_tick, end_tick, pitch)`` notes, through real MIDI bytes."""
    data = midi_bytes([TrackSpec([(s, e, p, 90) for s, e, p in notes])], ticks_per_beat=ticks_per_beat,
                      time_signatures=((0, *meter),))
    return song_from_bytes(data, "triplets.mid")


def round_trip(song):
    """Ticks → fine positions → tokens → fine positions → ticks: (placement, tokens, notes back, onset ticks back)."""
    bars = song_bars(song)
    track = next(track for track in song.tracks if track.notes)
    columns = [np.array([getattr(note, name) for note in track.notes]) for name in ("start_tick", "end_tick", "pitch")]
    placement = place_on_triplet_grid(*columns, bars, song.ticks_per_beat)
    line = top_line(placement.notes)
    tokens = encode_fine_notes(line, placement.triplet_steps, bars[-1].end_step)
    notes, triplet_steps = decode_fine_tokens(tokens)
    assert triplet_steps == placement.triplet_steps
    onsets = fine_to_ticks(np.array([note.start_step for note in notes]), bars, song.ticks_per_beat)
    ends = fine_to_ticks(np.array([note.end_step for note in notes]), bars, song.ticks_per_beat)
    return placement, tokens, notes, onsets.tolist(), ends.tolist()


@pytest.mark.parametrize("ticks_per_beat", [96, 480, 960])
def test_a_hornpipe_swung_as_triplets_comes_back_on_its_ticks(ticks_per_beat):
    long, short = 2 * ticks_per_beat // 3, ticks_per_beat // 3  # 320 + 160 at 480 per quarter
    notes = [(q * ticks_per_beat + offset, q * ticks_per_beat + offset + length, 67 + q % 5)
             for q in range(8) for offset, length in ((0, long), (long, short))]
    placement, tokens, back, onsets, ends = round_trip(song_of(notes, ticks_per_beat))
    assert onsets == [start for start, _, _ in notes] and ends == [end for _, end, _ in notes]
    assert len(placement.triplet_steps) == 8 and placement.moved_events == 0 and placement.mixed_quarters == 0
    assert len(tokens) == 32  # two 4/4 bars: still 4 tokens a quarter
    assert tokens[:4].tolist() == [TRIPLET_TOKEN, 67 - MIN_PITCH, HOLD_TOKEN, 67 - MIN_PITCH]


def test_straight_and_triplet_quarters_side_by_side_with_rests():
    notes = [(0, 120, 72), (120, 240, 74), (240, 480, 76),  # 16ths and an 8th
             (480, 640, 72), (800, 960, 71),  # a triplet with its middle note missing (a rest)
             (960, 1920, 69)]
    placement, tokens, back, onsets, ends = round_trip(song_of(notes))
    assert onsets == [0, 120, 240, 480, 800, 960] and ends == [120, 240, 480, 640, 960, 1920]
    assert placement.triplet_steps == frozenset({4})
    assert tokens[4:8].tolist() == [TRIPLET_TOKEN, 72 - MIN_PITCH, REST_TOKEN, 71 - MIN_PITCH]
    assert TRIPLET_TOKEN not in tokens[8:].tolist()


def test_a_quarter_mixing_16ths_and_triplets_goes_where_its_onsets_move_least_and_is_counted():
    # 0, 160, 320 are triplets and 360 a 16th: triplets move one onset by 40 ticks, 16ths two.
    notes = [(0, 160, 72), (160, 320, 74), (320, 360, 76), (360, 480, 77), (480, 1920, 72)]
    placement, tokens, back, onsets, ends = round_trip(song_of(notes))
    assert placement.triplet_steps == frozenset({0}) and placement.mixed_quarters == 1
    assert placement.moved_events == 2  # 360 moved to 320 (as an onset and as the release before it)
    assert onsets == [0, 160, 320, 480]  # the two onsets that met are one note now (the higher)
    assert [note.pitch for note in back] == [72, 74, 77, 72]


def test_without_triplets_the_tokens_are_the_16th_grids():
    notes = [(0, 240, 67), (240, 360, 69), (360, 480, 71), (480, 1440, 72), (1560, 1920, 74)]
    song = song_of(notes)
    placement, tokens, _, onsets, _ = round_trip(song)
    bars = song_bars(song)
    line, _ = melody.quantize_line(next(t for t in song.tracks if t.notes), bars, 480)
    assert not placement.triplet_steps
    assert tokens.tolist() == encode_notes(line, bars[-1].end_step).tolist()
    assert onsets == [start for start, _, _ in notes]


def test_compound_meters_and_cut_short_quarters_stay_on_16ths():
    notes = [(q * 240 + offset, q * 240 + offset + 80, 72) for q in range(12) for offset in (0, 80, 160)]
    placement, *_ = round_trip(song_of(notes, meter=(6, 8)))
    assert not placement.triplet_steps  # 6/8 divides its beats in three already, on the 16th grid


def test_decoding_refuses_a_marker_off_a_quarter_line_and_the_mask_allows_it_only_there():
    tokens = [72 - MIN_PITCH, HOLD_TOKEN, TRIPLET_TOKEN, HOLD_TOKEN]
    with pytest.raises(ValueError, match="not at the start of a quarter"):
        decode_fine_tokens(tokens)
    masks = np.stack([TRIPLET_GRID.allowed_tokens(step, TRIPLET_VOCAB_SIZE) for step in range(8)])
    assert masks[:, TRIPLET_TOKEN].tolist() == [True, False, False, False] * 2
    assert not masks[:, 32:35].any() and masks[:, :32].all()  # specials never, music tokens always
    assert SIXTEENTH_GRID.allowed_tokens(0, 32) is None  # 16th-grid decoders emit music tokens only


def test_every_sequence_the_mask_allows_decodes_onto_the_grid():
    rng = np.random.default_rng(0)
    for _ in range(200):
        tokens = []
        for step in range(32):
            allowed = np.flatnonzero(TRIPLET_GRID.allowed_tokens(step, TRIPLET_VOCAB_SIZE))
            tokens.append(int(rng.choice(allowed)))
        notes, triplet_steps = decode_fine_tokens(tokens)
        for note in notes:
            quarter_start = note.start_step // 12 * 12
            step_fine = 4 if quarter_start // FINE_PER_STEP in triplet_steps else 3
            assert (note.start_step - quarter_start) % step_fine == 0
            assert note.end_step > note.start_step


# --- the committed fixtures (tests/fixtures/triplets) -------------------------------------------------

FIXTURES = __import__("pathlib").Path(__file__).resolve().parent.parent / "fixtures" / "triplets"


def test_the_committed_triplet_fixtures_are_what_their_script_writes():
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_triplet_fixtures", FIXTURES / "make_triplet_fixtures.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    for name, make in script.FIXTURES.items():
        assert (FIXTURES / name).read_bytes() == make(), name


def sixteenth_onsets(song):
    from clsm_cli.music.bars import step_to_tick

    bars = song_bars(song)
    line, _ = melody.quantize_line(next(t for t in song.tracks if t.notes), bars, song.ticks_per_beat)
    return [step_to_tick(bars, song.ticks_per_beat, note.start_step) for note in line]


@pytest.mark.parametrize("name, late_ticks", [("swung_hornpipe.mid", 1), ("triplet_rolls.mid", 0)])
def test_triplet_fixtures_come_back_exact_on_the_triplet_grid_and_not_on_16ths(name, late_ticks):
    from clsm_cli.music.midi_read import read_midi

    song = read_midi(FIXTURES / name)
    written = [note.start_tick - late_ticks for note in next(t for t in song.tracks if t.notes).notes]
    placement, _, _, onsets, _ = round_trip(song)
    assert onsets == written and placement.triplet_steps and placement.mixed_quarters == 0
    assert sixteenth_onsets(song) != written


def test_the_mixed_quarter_fixture_is_counted_and_placed_where_it_moves_least():
    from clsm_cli.music.midi_read import read_midi

    placement, _, _, onsets, _ = round_trip(read_midi(FIXTURES / "mixed_quarter.mid"))
    assert placement.mixed_quarters == 1 and placement.triplet_steps == frozenset({0})
    assert onsets == [0, 32, 64, 96, 384]  # the 16th at 72 met the triplet at 64: the higher note stays
