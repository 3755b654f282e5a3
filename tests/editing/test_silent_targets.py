"""Silent targets get a melody (issue 22): an intro or a part that enters late is filled with at
least one note per bar, the model hearing the nearest bars where the melody plays."""

from __future__ import annotations

from dataclasses import replace

import pytest

from clsm_cli.editing.options import EditOptions, command_decoding
from clsm_cli.editing.prepare import prepare_song
from clsm_cli.editing.silent import context_line
from clsm_cli.editing.verbs import edit_file
from clsm_cli.editing.window import centred_window
from clsm_cli.music.bars import BarRange
from synthetic_midi.midi_factory import STEP_TICKS, make_midi, melody_track, scale_melody


def late_entry_song(path):
    """20 bars: a pad plays throughout, the melody enters at bar 13."""
    tune = [(start + 12 * 16, end + 12 * 16, pitch) for start, end, pitch in scale_melody(8, first_pitch=67)]
    pad = [(bar * 16, bar * 16 + 16, pitch) for bar in range(20) for pitch in (48, 52, 55)]
    return make_midi(path, [melody_track(tune, ticks_per_step=STEP_TICKS, name="Melody"),
                            melody_track(pad, ticks_per_step=STEP_TICKS, name="Pad", channel=1, program=89)],
                     time_signatures=[(0, 4, 4)])


def test_the_model_hears_the_nearest_bars_where_the_melody_plays(tmp_path, tiny_model):
    path = late_entry_song(tmp_path / "late.mid")
    prepared = prepare_song(path, BarRange(2, 3), None)
    heard = context_line(prepared, BarRange(2, 3), tiny_model.config)
    assert "silent around bars 2-3" in heard.note and "bar 13" in heard.note
    first_after = min(note.start_step for note in heard.line if note.start_step >= 48)
    assert first_after == 48  # bar 13's melody now starts right after the target
    window = centred_window(prepared, heard.line, BarRange(2, 3), tiny_model.config)
    assert window.context_has_notes
    # Where the melody plays around the target, the model hears the melody itself.
    assert context_line(prepared, BarRange(11, 12), tiny_model.config).note is None


def test_a_melody_track_silent_throughout_borrows_the_other_tracks_top_line(tmp_path, tiny_model):
    prepared = prepare_song(late_entry_song(tmp_path / "late.mid"), BarRange(2, 3), None)
    heard = context_line(replace(prepared, line=()), BarRange(2, 3), tiny_model.config)
    assert "silent throughout" in heard.note
    assert {note.pitch for note in heard.line} == {55}  # the pad's top note


@pytest.mark.parametrize("engine", ["numpy", "torch"])
def test_a_silent_target_gets_a_melody_with_a_note_in_every_bar(engine, tmp_path, tiny_model_dir):
    from clsm_cli.engine.load import load_engine

    model = load_engine(str(tiny_model_dir), engine, "cpu")
    path = late_entry_song(tmp_path / "late.mid")
    for bars in (BarRange(1, 2), BarRange(3, 4), BarRange(5, 8)):
        options = EditOptions(verb="infill", bars=bars, seed=4, num=4, out_dir=tmp_path / f"{bars.first}", temperature=1.0)
        result = edit_file(path, options, model, command_decoding(model.config, 1.0, None))
        assert result.ok, result.error
        assert len(result.outputs) == 4
        assert any("writing a new melody there" in warning for warning in result.warnings)
        for output in result.outputs:
            assert all(count >= 1 for count in output.achieved.notes_per_bar), output.achieved
