"""The measure model's rules on notes built in code: the beat grid, voices, ties, pickups, tempo."""

from __future__ import annotations

from fractions import Fraction

from clsm_cli.music.bars import Bar, BarRange
from clsm_cli.music.key import Key
from clsm_cli.music.musicxml import score_to_musicxml
from clsm_cli.music.notation import (
    SIXTEENTH,
    TRIPLET_EIGHTH,
    GridNote,
    assign_voices,
    build_score,
    quantize_to_beat_grid,
    split_value,
    tempo_marks,
)

TPB = 480


def bars_of(*meters):
    bars, tick, step = [], 0, 0
    for number, (numerator, denominator) in enumerate(meters, start=1):
        steps = numerator * 16 // denominator
        bars.append(Bar(number, tick, tick + steps * TPB // 4, numerator, denominator, step, steps))
        tick, step = tick + steps * TPB // 4, step + steps
    return bars


def test_a_beat_takes_triplets_only_where_they_move_its_events_less():
    third = Fraction(1, 3)
    grids = quantize_to_beat_grid(Fraction(2), [Fraction(0), third, 2 * third, Fraction(1), Fraction(5, 4)])
    assert grids == [TRIPLET_EIGHTH, SIXTEENTH]
    assert quantize_to_beat_grid(Fraction(1), [Fraction(0)]) == [SIXTEENTH]  # a tie keeps 16ths
    # A part beat at the end of a 3/8 bar keeps 16ths.
    assert quantize_to_beat_grid(Fraction(3, 2), [Fraction(1), Fraction(4, 3)]) == [SIXTEENTH, SIXTEENTH]
    # Meters not counted in quarters (6/8) keep 16ths; an event just before a beat belongs to it.
    assert quantize_to_beat_grid(Fraction(3), [Fraction(1, 3), Fraction(2, 3)], triplets=False) == [SIXTEENTH] * 3
    assert quantize_to_beat_grid(Fraction(2), [Fraction(1) - Fraction(1, 48), Fraction(4, 3)]) == [
        SIXTEENTH, TRIPLET_EIGHTH]


def test_values_split_greedily_with_long_values_on_the_beat():
    assert [(s, d) for s, d, _, _ in split_value(0, 36, False)] == [(0, 36)]
    assert [(s, d) for s, d, _, _ in split_value(3, 21, False)] == [(3, 9), (12, 12)]
    assert [(s, d) for s, d, _, _ in split_value(6, 9, False)] == [(6, 6), (12, 3)]  # within the beat
    assert [(s, d) for s, d, _, _ in split_value(12, 18, True)] == [(12, 6), (18, 12)]  # 6/8: z z2
    assert [(s, d) for s, d, _, _ in split_value(18, 18, True)] == [(18, 18)]
    assert [(s, d) for s, d, _, _ in split_value(0, 30, True)] == [(0, 18), (18, 12)]  # 6/8: z3 z2
    assert [(s, d) for s, d, _, _ in split_value(0, 30, False)] == [(0, 24), (24, 6)]


def test_chords_share_onset_and_end_and_other_lower_notes_go_to_voice_two():
    chords = assign_voices([GridNote(0, 12, 72), GridNote(0, 12, 64), GridNote(0, 24, 60), GridNote(12, 24, 74)])
    by_voice = {(chord.voice, chord.pitches) for chord in chords}
    assert by_voice == {(1, (72, 64)), (2, (60,)), (1, (74,))}


def test_a_note_across_a_bar_line_is_two_tied_pieces_and_measures_fill_with_rests():
    bars = bars_of((4, 4), (4, 4))
    score = build_score([(3 * TPB, 5 * TPB, 67)], bars, TPB, [(0, 500_000)], Key.of(0, "major"), "t", "Melody")
    first, second = (measure.voices[0] for measure in score.measures)
    assert [(p.start, p.duration, p.pitches, p.tie_start, p.tie_stop) for p in first] == [
        (0, 36, (), False, False), (36, 12, (67,), True, False)]
    assert [(p.start, p.duration, p.tie_stop, p.tie_start) for p in second][:1] == [(0, 12, True, False)]
    assert sum(p.duration for p in second) == 48
    text = score_to_musicxml(score)
    assert text.count('<tie type="start"') == 1 and text.count('<tie type="stop"') == 1


def test_a_short_first_bar_is_a_pickup_in_the_meter_after_it():
    bars = bars_of((1, 4), (3, 4))
    score = build_score([(0, TPB, 67), (TPB, 4 * TPB, 72)], bars, TPB, [], None, "t", "Melody")
    assert score.measures[0].pickup and score.measures[0].time_signature == (3, 4)
    assert score.measures[1].time_signature is None
    assert 'implicit="yes"' in score_to_musicxml(score)


def test_a_later_tempo_is_marked_only_when_it_changes_enough_for_long_enough():
    bars = bars_of(*[(4, 4)] * 4)
    bar_ticks = 4 * TPB
    tempos = [(0, 500_000), (bar_ticks, 520_000), (2 * bar_ticks, 400_000), (2 * bar_ticks + 10, 500_000)]
    assert tempo_marks(tempos, bars) == {1: 120.0}  # 115 bpm is near; 150 bpm lasts 10 ticks
    assert tempo_marks([(0, 500_000), (3 * bar_ticks, 600_000)], bars) == {1: 120.0, 4: 100.0}


def test_edited_bars_carry_a_new_mark_and_coloured_notes():
    bars = bars_of(*[(4, 4)] * 3)
    notes = [(bar * 4 * TPB, bar * 4 * TPB + TPB, 67) for bar in range(3)]
    score = build_score(notes, bars, TPB, [], None, "t", "Melody", marked_bars=[2, 3])
    assert [measure.new_label for measure in score.measures] == [False, True, False]
    assert [any(p.marked for p in measure.voices[0]) for measure in score.measures] == [False, True, True]
    assert score_to_musicxml(score).count(">new</words>") == 1


def test_accidentals_show_only_where_the_key_and_the_bar_do_not_give_the_pitch():
    bars = bars_of((4, 4))
    notes = [(0, TPB, 70), (TPB, 2 * TPB, 66), (2 * TPB, 3 * TPB, 66), (3 * TPB, 4 * TPB, 71)]
    text = score_to_musicxml(build_score(notes, bars, TPB, [], Key.of(10, "major"), "t", "Melody"))
    # B-flat major: B♭ from the key, G♭ printed once, then B♮ printed.
    assert text.count("<accidental>") == 2 and "<accidental>flat</accidental>" in text
    assert "<accidental>natural</accidental>" in text and "<accidental>sharp</accidental>" not in text


def test_a_track_without_notes_is_a_score_of_measure_rests():
    from clsm_cli.music.abc import score_to_abc
    from tests.music.notation_checks import measure_lengths, parse

    score = build_score([], bars_of((3, 4), (3, 4)), TPB, [], None, "t", "")
    assert all(measure.voices == ((measure.voices[0][0],),) and measure.voices[0][0].measure_rest
               for measure in score.measures)
    assert [length for _, length, _ in measure_lengths(parse(score_to_musicxml(score), "musicxml"))] == [3, 3]
    assert "z6 | z6 |]" in score_to_abc(score)


def test_only_the_first_bar_of_a_song_with_a_pickup_is_one_pickup_measure():
    bars = bars_of((1, 4), (3, 4), (3, 4))
    score = build_score([(0, TPB, 67)], bars, TPB, [], None, "t", "", shown=BarRange(1, 1))
    (measure,) = score.measures
    assert measure.pickup and measure.time_signature == (3, 4) and measure.length == 12
