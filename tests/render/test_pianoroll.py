"""The piano roll: the pure grid and layout on tiny note lists, and the renderable's output."""

import io
from types import SimpleNamespace

import pytest
from rich.console import Console

from clsm_cli.music.tokens import StepNote
from clsm_cli.render.pianoroll import (
    BAR_LINE_CHAR,
    HIGHLIGHT_CHAR,
    HOLD_CHAR,
    LABEL_WIDTH,
    START_CHAR,
    PianoRoll,
    RollBar,
    choose_layout,
    grid_lines,
    pitch_name,
    pitch_rows,
    roll_bars_from_song,
    roll_grid,
    shared_pitch_range,
    system_width,
)

ONE_BAR = [(1, 0, 16)]


def bars_4_4(count, first_number=1):
    return [RollBar(first_number + index, 16 * index, 16) for index in range(count)]


def render(roll, width=80, **console_options):
    console = Console(file=io.StringIO(), width=width, **console_options)
    console.print(roll)
    return console.file.getvalue()


@pytest.mark.parametrize(
    "pitch, name", [(60, "C4"), (61, "C#4"), (55, "G3"), (84, "C6"), (0, "C-1"), (127, "G9"), (70, "A#4")]
)
def test_pitch_names_put_middle_c_at_c4(pitch, name):
    assert pitch_name(pitch) == name


def test_pitch_name_rejects_non_midi_pitches():
    with pytest.raises(ValueError, match="0..127"):
        pitch_name(128)


def test_rows_cover_exactly_the_pitch_range_in_use_highest_first():
    notes = [StepNote(0, 4, 60), StepNote(4, 8, 64), StepNote(40, 48, 79)]  # the G5 is in bar 3
    assert pitch_rows(notes, bars_4_4(2)) == (64, 63, 62, 61, 60)
    assert pitch_rows(notes, bars_4_4(3)) == tuple(range(79, 59, -1))


def test_pitch_range_widens_the_rows_but_never_hides_notes():
    notes = [StepNote(0, 4, 60), StepNote(4, 8, 62)]
    assert pitch_rows(notes, bars_4_4(1), pitch_range=(58, 61)) == (62, 61, 60, 59, 58)
    assert pitch_rows(notes, bars_4_4(1), pitch_range=(60, 60)) == (62, 61, 60)


def test_rolls_of_several_candidates_share_one_pitch_range():
    first = [StepNote(0, 4, 60), StepNote(40, 44, 90)]  # the 90 is outside the bars shown
    second = [StepNote(4, 8, 67), StepNote(20, 24, 57)]
    assert shared_pitch_range([first, second], bars_4_4(2)) == (57, 67)
    assert shared_pitch_range([[], []], bars_4_4(2)) is None


def test_note_starts_holds_beats_and_rests_in_one_bar():
    notes = [StepNote(0, 4, 60), StepNote(4, 6, 62), StepNote(8, 16, 60)]
    grid = roll_grid(notes, ONE_BAR)
    assert grid.pitches == (62, 61, 60)
    assert grid.cells == (
        ("    █━  ·   ·   ",),
        ("    ·   ·   ·   ",),
        ("█━━━·   █━━━━━━━",),
    )


def test_repeated_notes_are_distinguishable_from_one_long_note():
    repeated = roll_grid([StepNote(0, 2, 67), StepNote(2, 4, 67)], ONE_BAR)
    held = roll_grid([StepNote(0, 4, 67)], ONE_BAR)
    assert repeated.cells[0][0][:4] == START_CHAR + HOLD_CHAR + START_CHAR + HOLD_CHAR
    assert held.cells[0][0][:4] == START_CHAR + HOLD_CHAR * 3


def test_notes_sounding_from_before_the_first_bar_shown_are_held_not_started():
    tied = StepNote(16, 20, 65, tied_from_before=True)
    begun_earlier = StepNote(12, 18, 64)  # starts in bar 1, which is not shown
    grid = roll_grid([tied, begun_earlier], [(2, 16, 16)])
    assert grid.cells[0][0][:4] == HOLD_CHAR * 4  # F4, tied
    assert grid.cells[1][0][:2] == HOLD_CHAR * 2  # E4, clipped at the bar line
    assert START_CHAR not in "".join(row[0] for row in grid.cells)


def test_two_steps_per_column_halves_the_columns_and_keeps_off_beat_starts():
    notes = [StepNote(1, 3, 60), StepNote(3, 8, 62)]
    grid = roll_grid(notes, ONE_BAR, steps_per_column=2)
    assert [len(cells) for cells in grid.cells[0]] == [8]
    assert grid.cells[0][0] == " █━━· · "  # D4 starts at step 3 (column 1) and holds to step 8
    assert grid.cells[2][0] == "█━· · · "  # C4 starts at step 1 (column 0), holds into column 1


def test_bar_lines_and_numbers_line_up():
    notes = [StepNote(0, 16, 60), StepNote(16, 32, 62)]
    lines = grid_lines(roll_grid(notes, bars_4_4(2, first_number=7)))
    header, top_row = lines[0], lines[1]
    bar_line_columns = [index for index, char in enumerate(top_row) if char == BAR_LINE_CHAR]
    assert bar_line_columns == [LABEL_WIDTH + 1, LABEL_WIDTH + 18, LABEL_WIDTH + 35]
    assert header.index("7") == bar_line_columns[0]
    assert header.index("8") == bar_line_columns[1]
    assert top_row.startswith("  D4 ")


def test_highlighted_bars_are_marked_under_their_numbers_without_colour():
    notes = [StepNote(step, step + 4, 60 + step // 16) for step in range(0, 64, 4)]
    lines = grid_lines(roll_grid(notes, bars_4_4(4)), highlighted_bars={2, 3})
    marks, row = lines[1], lines[2]
    marked = [index for index, char in enumerate(marks) if char == HIGHLIGHT_CHAR]
    second_bar = row.index(BAR_LINE_CHAR, LABEL_WIDTH + 2)
    fourth_bar = row.index(BAR_LINE_CHAR, second_bar + 18)
    expected = [column for column in range(second_bar + 1, fourth_bar) if row[column] != BAR_LINE_CHAR]
    assert marked == expected
    assert len(marked) == 32


def test_no_highlight_line_when_the_highlighted_bars_are_not_shown():
    lines = grid_lines(roll_grid([StepNote(0, 4, 60)], bars_4_4(2)), highlighted_bars={5})
    assert HIGHLIGHT_CHAR not in "\n".join(lines)
    assert len(lines) == 1 + 1  # numbers and the single C4 row


def test_bars_of_other_meters_get_their_own_width_and_beats():
    three_four = [RollBar(1, 0, 12), RollBar(2, 12, 12)]
    row = grid_lines(roll_grid([StepNote(0, 12, 67)], three_four))[1]
    assert row == "  G4 │" + START_CHAR + HOLD_CHAR * 11 + "│    ·   ·   │"
    six_eight = roll_bars_from_song([SimpleNamespace(number=1, first_step=0, steps=12, numerator=6, denominator=8)])
    assert six_eight == [RollBar(1, 0, 12, beat_steps=6)]
    assert roll_grid([StepNote(0, 1, 60)], six_eight).cells[0][0] == "█     ·     "


def test_layout_prefers_full_resolution_then_two_steps_then_wrapping():
    eight_bars = bars_4_4(8)
    assert system_width(eight_bars, 1) == LABEL_WIDTH + 1 + 8 * 17 + 1
    full = choose_layout(eight_bars, width=200)
    assert (full.steps_per_column, [len(s) for s in full.systems]) == (1, [8])
    halved = choose_layout(eight_bars, width=80)
    assert (halved.steps_per_column, [len(s) for s in halved.systems]) == (2, [8])
    wrapped = choose_layout(eight_bars, width=40)
    assert wrapped.steps_per_column == 2
    assert [len(s) for s in wrapped.systems] == [3, 3, 2]
    assert all(system_width(system, 2) <= 40 for system in wrapped.systems)
    assert choose_layout(eight_bars, width=200, compact=True).steps_per_column == 2


def test_layout_lowers_the_resolution_only_when_one_bar_does_not_fit():
    tiny = choose_layout(bars_4_4(3), width=12)
    assert tiny.steps_per_column == 4
    assert [len(s) for s in tiny.systems] == [1, 1, 1]


def test_rendered_roll_is_plain_text_matching_the_grid_when_not_a_terminal():
    notes = [StepNote(0, 4, 60), StepNote(4, 8, 64), StepNote(8, 16, 62), StepNote(16, 32, 60)]
    bars = bars_4_4(2)
    output = render(PianoRoll(notes, bars, highlighted_bars={2}, dim_other_bars=True, title="tune"), width=80)
    assert "\x1b" not in output
    lines = output.splitlines()
    assert lines[0] == "tune"
    assert lines[1 : 1 + 7] == grid_lines(roll_grid(notes, bars), highlighted_bars={2})
    assert "selected bars" in lines[-1]


def test_rendered_roll_fits_the_width_by_halving_then_wrapping():
    notes = [StepNote(step, step + 2, 60 + (step // 2) % 12) for step in range(0, 16 * 8, 2)]
    for width in (100, 60, 30):
        output = render(PianoRoll(notes, bars_4_4(8), highlighted_bars={3, 4}), width=width)
        assert max(len(line) for line in output.splitlines()) <= width
    assert output.count("  B4 ") > 1  # at width 30 the bars wrap onto several systems


def test_colour_appears_only_on_a_terminal_with_a_colour_system():
    roll = PianoRoll([StepNote(0, 4, 60)], ONE_BAR, highlighted_bars={1})
    assert "\x1b[" in render(roll, force_terminal=True, color_system="standard")
    assert "\x1b" not in render(roll, force_terminal=True, color_system=None)


def test_context_bars_are_dimmed_only_when_asked():
    notes = [StepNote(0, 4, 60), StepNote(16, 20, 60)]

    def dimmed_notes(dim):
        console = Console(file=io.StringIO(), width=80, force_terminal=True)
        roll = PianoRoll(notes, bars_4_4(2), highlighted_bars={2}, dim_other_bars=dim)
        segments = console.render(roll, console.options)
        return [s.text for s in segments if START_CHAR in s.text and s.style is not None and s.style.dim]

    assert dimmed_notes(True) == [START_CHAR + HOLD_CHAR * 3]
    assert dimmed_notes(False) == []


def test_bars_without_notes_say_so():
    output = render(PianoRoll([StepNote(0, 4, 60)], [(3, 32, 16), (4, 48, 16)]))
    assert "(no notes in bars 3-4)" in output


def test_compact_rolls_use_two_steps_per_column_and_no_legend():
    output = render(PianoRoll([StepNote(0, 4, 60)], bars_4_4(2), compact=True), width=200)
    assert output.splitlines()[-1] == "  C4 │█━· · · │  · · · │"
