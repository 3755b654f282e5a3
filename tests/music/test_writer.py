"""The surgical writer and the other writers: only the target bars of one track change.

The randomized test compares every event outside the target bars between the input and the output,
read independently with mido, across multi-track files with tempo and meter changes.
"""

import os
import random
import statistics
from pathlib import Path

import mido
import pretty_midi
import pytest

import clsm_cli.atomic as atomic
from clsm_cli.errors import EXIT_OUTPUT, OutputError
from clsm_cli.music.bars import BarRange, bar_at_step, song_bars, window_around
from clsm_cli.music.feel import context_feel, felt_ticks
from clsm_cli.music.melody import choose_melody_track, in_bars, split_top_voice
from clsm_cli.music.midi_read import read_midi, read_text_events
from clsm_cli.music.midi_write import provenance_event, write_edited_song
from clsm_cli.music.song import MidiTrack
from clsm_cli.music.tokens import StepNote
from synthetic_midi.midi_factory import SongSpec, TrackSpec, make_midi, random_multitrack_song
from tests.music.edit_checks import outside_target_changes

PROVENANCE = "clsm infill bars 2-2 seed 7 w=[0.1, -0.2] \u03b4"


# --- helpers --------------------------------------------------------------------------------------


def absolute_events(track):
    now, events = 0, []
    for message in track:
        now += message.time
        events.append((now, message))
    return events


def outside_events(track, channel, range_start, range_end, provenance):
    """Every event except the edited channel's notes in [range_start, range_end], the provenance
    text and the end of track: what must be identical between input and output."""
    kept = []
    for tick, message in absolute_events(track):
        if message.type == "end_of_track":
            continue
        if message.type in ("note_on", "note_off") and message.channel == channel and range_start <= tick <= range_end:
            continue
        if message.bytes() == provenance_event(provenance).bytes():
            continue
        kept.append((tick, tuple(message.bytes())))
    return kept


def note_tuples(track):
    return sorted((n.start_tick, n.end_tick, n.pitch, n.velocity) for n in track.notes)


def expected_notes(song, track, bars, first_bar, last_bar, new_notes, voice="top"):
    """The track's notes after the edit, computed from the rules in plain terms (edit_plan)."""
    target = BarRange(first_bar, last_bar)
    first_step, end_step = target.step_span(bars)
    split = split_top_voice(track, bars, song.ticks_per_beat)
    edited = list(split.top) if voice == "top" else list(split.top + split.others)
    others = list(split.others) if voice == "top" else []
    replaced = [n for n in edited if in_bars(n, bars, first_bar, last_bar)]
    kept = [n for n in edited if n not in replaced]
    # Velocity: the median of the edited voice's notes outside the target, in the window around
    # it, on the same position in their bar; else the median of all of them.
    window = window_around(target, len(bars))
    context = [n for n in kept if in_bars(n, bars, window.first, window.last)]

    def position(step):
        return step - bar_at_step(bars, step).first_step

    def velocity(step):
        same = [n.note.velocity for n in context if position(n.start_step) == position(step)]
        pool = same or [n.note.velocity for n in edited] or [80]
        return max(1, min(127, int(statistics.median(pool) + 0.5)))

    hold = [n for n in edited if n.start_step < first_step <= n.end_step]
    hold_pitch = max(hold, key=lambda n: (n.start_step, n.note.pitch)).note.pitch if hold else None
    line = []
    for note in sorted(new_notes, key=lambda n: n.start_step):
        pitch = hold_pitch if note.pitch is None else note.pitch
        if pitch is not None:
            line.append((note.start_step, note.end_step, pitch))
    # Exact copies: a new note with a replaced note's pitch, onset step and end step (the end where
    # the edited voice's next note starts, at most the target's end) is that note, unchanged.
    onsets = sorted({n.start_step for n in edited})
    copies = {}
    for note in replaced:
        line_end = min([note.end_step, end_step] + [s for s in onsets if s > note.start_step][:1])
        copies.setdefault((note.start_step, line_end, note.note.pitch), note)
    unchanged = [copies[key] for key in line if key in copies]
    stays = kept + unchanged
    # Timing: the context's feel (music/feel.py, tested on its own), clamped inside the target.
    feel = context_feel([(n.note.start_tick, n.start_step) for n in context],
                        bars, song.ticks_per_beat)
    after = [n.note.start_tick for n in kept if n.start_step >= end_step]
    ticks = felt_ticks([(start, end) for start, end, _ in line], feel, bars, song.ticks_per_beat,
                       bars[first_bar - 1].start_tick, min(after, default=1 << 62))
    new = []
    for (start_step, _, pitch), (start, end), key in zip(line, ticks, line):
        if key in copies:
            continue
        end = min([end] + [k.note.start_tick for k in stays if start < k.note.start_tick < end])
        if end > start:
            new.append((start, end, pitch, velocity(start_step)))
    result = [(n.note.start_tick, n.note.end_tick, n.note.pitch, n.note.velocity) for n in others]
    for note in stays:
        cuts = [start for start, *_ in new if note.note.start_tick < start < note.note.end_tick]
        result.append((note.note.start_tick, min(cuts + [note.note.end_tick]), note.note.pitch, note.note.velocity))
    return sorted(result + new)


NO_TIE = "no tie"  # random_line's tie_pitch when the line starts without a leading tie


def random_line(rng, first_step, end_step, tie_pitch=NO_TIE):
    """A random monophonic line of StepNotes filling [first_step, end_step) with notes and rests; a
    leading hold of ``tie_pitch`` first (None: of unknown pitch) unless it is NO_TIE."""
    notes, step = [], first_step
    if tie_pitch != NO_TIE:
        length = rng.randint(1, 6)
        notes.append(StepNote(step, min(end_step, step + length), tie_pitch, tied_from_before=True))
        step = notes[-1].end_step
    while step < end_step:
        length = min(end_step - step, rng.randint(1, 6))
        if rng.random() < 0.8:
            notes.append(StepNote(step, step + length, rng.randint(55, 84)))
        step += length
    return notes


def non_note_events(track, channel):
    """Every event of a chunk but the notes of ``channel`` and the end of track, with its tick."""
    return [(tick, tuple(message.bytes())) for tick, message in absolute_events(track)
            if message.type != "end_of_track"
            and not (message.type in ("note_on", "note_off") and message.channel == channel)]


def check_only_the_edited_notes_changed(input_path, output_path, track, target, provenance):
    """Other chunks are byte for byte the same; in the edited one, every event that is not a note of
    the edited channel is at the same tick (the provenance event added at tick 0), and
    every note outside the target is the input's, event for event (edit_checks)."""
    before, after = mido.MidiFile(input_path), mido.MidiFile(output_path)
    assert after.type == before.type and after.ticks_per_beat == before.ticks_per_beat
    assert len(after.tracks) == len(before.tracks)
    bars = song_bars(read_midi(input_path))
    for index, (old, new) in enumerate(zip(before.tracks, after.tracks)):
        if index != track.chunk:
            assert [(m.time, m.bytes()) for m in old] == [(m.time, m.bytes()) for m in new]
            continue
        text = (0, tuple(provenance_event(provenance).bytes()))
        new_events = non_note_events(new, track.channel)
        assert text in new_events
        new_events.remove(text)
        assert new_events == non_note_events(old, track.channel)
        assert new[-1].type == "end_of_track" and sum(m.type == "end_of_track" for m in new) == 1
    changes = outside_target_changes(input_path, output_path, target)
    assert changes.missing == []
    assert all(key[0] == track.chunk and key[1] == track.channel for key, _ in changes.shortened)


# --- the randomized contract test -----------------------------------------------------------------


@pytest.mark.parametrize("seed", range(20))
def test_random_songs_only_target_bars_change(tmp_path, seed):
    rng = random.Random(1000 + seed)
    spec = random_multitrack_song(rng, num_bars=rng.randint(6, 14), jitter_ticks=rng.choice((0, 0, 7)))
    input_path = spec.write(tmp_path / "in.mid")
    song = read_midi(input_path)
    bars = song_bars(song)
    candidates = [t for t in song.tracks if not t.is_drum]
    track = choose_melody_track(song, None) if seed % 2 == 0 else rng.choice(candidates)
    first_bar = rng.randint(1, len(bars))
    last_bar = min(len(bars), first_bar + rng.randint(0, 3))
    first_step, end_step = BarRange(first_bar, last_bar).step_span(bars)
    tie_pitch = rng.choice((NO_TIE, None, rng.choice([n.pitch for n in track.notes])))
    new_notes = random_line(rng, first_step, end_step, tie_pitch)
    voice = "top" if seed % 3 else "all"

    output_path = write_edited_song(song, track, bars, BarRange(first_bar, last_bar), new_notes, tmp_path / "out.mid",
                                    PROVENANCE, voice=voice)

    assert output_path == tmp_path / "out.mid"
    check_only_the_edited_notes_changed(input_path, output_path, track, BarRange(first_bar, last_bar), PROVENANCE)
    edited = read_midi(output_path)
    assert [(t.chunk, t.channel) for t in edited.tracks] == [(t.chunk, t.channel) for t in song.tracks]
    for before, after in zip(song.tracks, edited.tracks):
        if before is track:
            assert note_tuples(after) == expected_notes(song, track, bars, first_bar, last_bar, new_notes, voice)
        else:
            assert note_tuples(after) == note_tuples(before)
    assert PROVENANCE in read_text_events(output_path)
    assert song_bars(edited)[: len(bars)] == bars or len(song_bars(edited)) <= len(bars)
    pretty_midi.PrettyMIDI(str(output_path))  # opens in pretty_midi too


# --- crossing notes, ties, velocity ---------------------------------------------------------------


def write_and_read(tmp_path, notes, new_notes, first_bar=2, last_bar=2, channel=0, **spec):
    path = make_midi(tmp_path / "in.mid", [TrackSpec(notes, channel=channel, name="Lead")], **spec)
    song = read_midi(path)
    bars = song_bars(song)
    out = write_edited_song(song, song.tracks[0], bars, BarRange(first_bar, last_bar), new_notes, tmp_path / "out.mid", "p",
                            force=True)
    return song, bars, read_midi(out), out


def test_a_note_sounding_into_the_target_keeps_its_release_until_a_new_note_starts(tmp_path):
    # Range: bar 2 = ticks 1920..3840 = steps 16..32. C4 sounds from bar 1 into bar 2.
    notes = [(0, 2400, 60, 90), (2400, 3000, 62, 91), (3000, 4200, 64, 92), (4320, 5000, 65, 93), (5760, 7680, 67, 94)]
    _, _, edited, _ = write_and_read(tmp_path, notes, [StepNote(16, 24, 70), StepNote(28, 32, 72)])
    assert note_tuples(edited.tracks[0]) == [
        (0, 1920, 60, 90),  # a new note starts at 1920 while it sounds: it ends there
        (1920, 2880, 70, 92),  # new notes: the median of the track (no context note on their beat)
        (3360, 3840, 72, 92),
        (4320, 5000, 65, 93),  # E4 (3000-4200) started in bar 2: replaced whole, nothing re-struck
        (5760, 7680, 67, 94),
    ]
    _, _, edited, _ = write_and_read(tmp_path, notes, [StepNote(28, 32, 72)])
    assert (0, 2400, 60, 90) in note_tuples(edited.tracks[0])  # nothing new while it sounds: untouched


def test_a_note_spanning_the_whole_range_ends_where_the_first_new_note_starts(tmp_path):
    _, _, edited, _ = write_and_read(tmp_path, [(0, 6000, 60, 90)], [StepNote(20, 24, 67)])
    assert note_tuples(edited.tracks[0]) == [(0, 2400, 60, 90), (2400, 2880, 67, 90)]


def test_a_note_starting_5_ticks_before_the_target_is_replaced_whole_not_left_as_a_blip(tmp_path):
    # Seen: ticks 3067-3230 became 3067-3072. Bar 2 starts at 1920; this note rounds onto it.
    notes = [(0, 960, 60, 90), (1915, 2078, 64, 90), (4000, 4400, 62, 90)]
    _, _, edited, out = write_and_read(tmp_path, notes, [StepNote(18, 20, 67)])
    assert note_tuples(edited.tracks[0]) == [(0, 960, 60, 90), (2160, 2400, 67, 90), (4000, 4400, 62, 90)]
    assert not any(t == 1915 for t, _ in absolute_events(mido.MidiFile(out).tracks[1]))


def test_a_note_ending_25_ticks_before_the_target_keeps_its_release_under_a_leading_hold(tmp_path):
    # Seen: a hold at the first target step moved this note-off into the target.
    notes = [(960, 1895, 60, 90), (4000, 4400, 62, 90)]
    _, _, edited, out = write_and_read(tmp_path, notes, [StepNote(16, 20, 60, tied_from_before=True)])
    assert note_tuples(edited.tracks[0]) == [(960, 1895, 60, 90), (1920, 2400, 60, 90), (4000, 4400, 62, 90)]
    releases = [t for t, m in absolute_events(mido.MidiFile(out).tracks[1]) if m.type == "note_off" and m.note == 60]
    assert 1895 in releases


def test_a_note_after_the_target_ending_it_21_ticks_early_stays_off_the_bar_line(tmp_path):
    # Bar 3 starts at 3840; this note of bar 3 starts 21 ticks late and must not be moved onto 3840,
    # nor one of bar 1 ending 21 ticks before bar 2.
    notes = [(960, 1899, 60, 90), (3861, 4400, 62, 90)]
    # The new note starts 11 ticks late: the context's notes on the beat are 0 and 21 ticks late (feel).
    _, _, edited, _ = write_and_read(tmp_path, notes, [StepNote(16, 32, 60, tied_from_before=True)])
    assert note_tuples(edited.tracks[0]) == [(960, 1899, 60, 90), (1931, 3840, 60, 90), (3861, 4400, 62, 90)]


def test_a_new_note_ends_where_a_kept_note_starting_early_begins(tmp_path):
    # The note of bar 3 is played 10 ticks early (3830): a new note up to the bar line stops there.
    # (It starts 5 ticks early itself: the median offset of the context's notes on the beat, 0 and -10.)
    notes = [(0, 480, 60, 90), (3830, 4400, 62, 90)]
    _, _, edited, _ = write_and_read(tmp_path, notes, [StepNote(24, 32, 65)])
    assert note_tuples(edited.tracks[0]) == [(0, 480, 60, 90), (2875, 3830, 65, 90), (3830, 4400, 62, 90)]


def test_a_hold_at_the_first_step_is_a_new_note_never_an_extension(tmp_path):
    notes = [(0, 2400, 60, 90), (2400, 3000, 62, 90)]
    tied = StepNote(16, 22, 60, tied_from_before=True)
    _, _, edited, _ = write_and_read(tmp_path, notes, [tied, StepNote(22, 26, 64)])
    assert note_tuples(edited.tracks[0]) == [(0, 1920, 60, 90), (1920, 2640, 60, 90), (2640, 3120, 64, 90)]
    _, _, edited, out = write_and_read(tmp_path, [(0, 6000, 60, 90)], [StepNote(16, 32, 60, tied_from_before=True)])
    assert note_tuples(edited.tracks[0]) == [(0, 1920, 60, 90), (1920, 3840, 60, 90)]


def test_leading_hold_of_unknown_pitch(tmp_path):
    # It sounds the note before when that one sounds on the step before the target, else it rests.
    notes = [(960, 1920, 60, 90), (1920, 2400, 62, 90)]
    _, _, edited, _ = write_and_read(tmp_path, notes, [StepNote(16, 20, None, tied_from_before=True)])
    assert note_tuples(edited.tracks[0]) == [(960, 1920, 60, 90), (1920, 2400, 60, 90)]
    notes = [(0, 960, 60, 90), (4000, 4400, 62, 90)]
    _, _, edited, _ = write_and_read(tmp_path, notes, [StepNote(16, 20, None, tied_from_before=True), StepNote(20, 24, 65)])
    assert note_tuples(edited.tracks[0]) == [(0, 960, 60, 90), (2400, 2880, 65, 90), (4000, 4400, 62, 90)]


def test_new_notes_follow_the_accent_pattern_of_the_context(tmp_path):
    # Every bar: a loud downbeat (110), soft off-beats (50, 60, 70); a new bar 5 takes the same
    # accents on the same positions, the track's median elsewhere.
    notes = []
    for bar in range(8):
        for beat, velocity in enumerate((110, 50, 60, 70)):
            notes.append((bar * 1920 + beat * 480, bar * 1920 + beat * 480 + 240, 72, velocity))
    path = make_midi(tmp_path / "in.mid", [TrackSpec(notes, channel=5)])
    song = read_midi(path)
    bars = song_bars(song)
    first = bars[4].first_step
    new = [StepNote(first, first + 2, 70), StepNote(first + 4, first + 6, 71), StepNote(first + 6, first + 8, 72),
           StepNote(first + 12, first + 14, 74)]
    out = write_edited_song(song, song.tracks[0], bars, BarRange(5, 5), new, tmp_path / "out.mid", "p")
    attacks = [(m.channel, m.note, m.velocity) for m in mido.MidiFile(out).tracks[1]
               if m.type == "note_on" and m.velocity and m.note in (70, 71, 72, 74)]
    new_attacks = [(channel, note, velocity) for channel, note, velocity in attacks if (note, velocity) not in
                   {(72, 110), (72, 50), (72, 60), (72, 70)}]
    # 70 on the downbeat: 110; 71 on beat 2: 50; 72 off the beat: the median 65; 74 on beat 4: 70.
    assert new_attacks == [(5, 70, 110), (5, 71, 50), (5, 72, 65), (5, 74, 70)]


def test_end_of_track_moves_after_new_notes_past_the_old_end(tmp_path):
    # The last note ends half way through bar 2; new notes fill bar 2 to its end.
    _, _, edited, out = write_and_read(tmp_path, [(0, 480, 60, 90), (1920, 2880, 62, 90)], [StepNote(16, 32, 64)])
    assert note_tuples(edited.tracks[0]) == [(0, 480, 60, 90), (1920, 3840, 64, 90)]
    track = mido.MidiFile(out).tracks[1]
    assert track[-1].type == "end_of_track" and absolute_events(track)[-1][0] == 3840


def test_type0_edit_keeps_the_other_channels_of_the_chunk(tmp_path):
    tracks = [TrackSpec([(i * 480, i * 480 + 480, 72, 90) for i in range(16)], channel=0),
              TrackSpec([(i * 960, i * 960 + 960, 40, 70) for i in range(8)], channel=1, program=33)]
    path = make_midi(tmp_path / "in.mid", tracks, midi_type=0)
    song = read_midi(path)
    bars = song_bars(song)
    out = write_edited_song(song, song.tracks[0], bars, BarRange(2, 3), [StepNote(16, 48, 67)], tmp_path / "out.mid", PROVENANCE)
    assert mido.MidiFile(out).type == 0
    check_only_the_edited_notes_changed(path, out, song.tracks[0], BarRange(2, 3), PROVENANCE)
    assert note_tuples(read_midi(out).tracks[1]) == note_tuples(song.tracks[1])


def test_new_notes_outside_the_target_are_a_programming_error(tmp_path):
    path = make_midi(tmp_path / "in.mid", [TrackSpec([(0, 7680, 60, 90)])])
    song = read_midi(path)
    with pytest.raises(ValueError, match="does not start inside the target"):
        write_edited_song(song, song.tracks[0], song_bars(song), BarRange(2, 2), [StepNote(10, 20, 60)], tmp_path / "o.mid", "p")


# --- refusing and atomic writes -------------------------------------------------------------------


@pytest.fixture
def small_song(tmp_path):
    path = make_midi(tmp_path / "song.mid", [TrackSpec([(0, 480, 60, 90), (1920, 2400, 62, 90)])])
    song = read_midi(path)
    return song, song_bars(song)


def edit(song, bars, out, force=False):
    return write_edited_song(song, song.tracks[0], bars, BarRange(1, 1), [StepNote(0, 4, 67)], out, "p", force=force)


def test_existing_output_is_refused_without_force(tmp_path, small_song):
    song, bars = small_song
    out = tmp_path / "out.mid"
    out.write_bytes(b"keep me")
    with pytest.raises(OutputError) as caught:
        edit(song, bars, out)
    assert caught.value.exit_code == EXIT_OUTPUT and "already exists; use --force" in caught.value.message
    assert out.read_bytes() == b"keep me"
    edit(song, bars, out, force=True)
    assert read_midi(out).tracks[0].notes[0].pitch == 67


def test_the_input_file_is_never_overwritten(tmp_path, small_song):
    song, bars = small_song
    original = song.path.read_bytes()
    for target in (song.path, tmp_path / "sub" / ".." / "song.mid"):
        (tmp_path / "sub").mkdir(exist_ok=True)
        for force in (False, True):
            with pytest.raises(OutputError, match="refusing to write over the input file song.mid"):
                edit(song, bars, target, force=force)
    os.symlink(song.path, tmp_path / "link.mid")
    with pytest.raises(OutputError, match="refusing to write over the input"):
        edit(song, bars, tmp_path / "link.mid", force=True)
    assert song.path.read_bytes() == original


def test_missing_or_unwritable_folder_is_an_output_error(tmp_path, small_song, monkeypatch):
    song, bars = small_song
    with pytest.raises(OutputError, match="does not exist"):
        edit(song, bars, tmp_path / "missing" / "out.mid")
    with pytest.raises(OutputError, match="is a folder"):
        edit(song, bars, tmp_path)

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(atomic.tempfile, "mkstemp", denied)
    with pytest.raises(OutputError, match="cannot write to the folder .* \\(Permission denied\\)"):
        edit(song, bars, tmp_path / "out.mid")


def test_a_failed_write_leaves_no_partial_file(tmp_path, small_song, monkeypatch):
    song, bars = small_song
    out = tmp_path / "out.mid"
    out.write_bytes(b"old")

    def broken_replace(source, target):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic.os, "replace", broken_replace)
    with pytest.raises(OutputError, match="No space left on device"):
        edit(song, bars, out, force=True)
    assert out.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mid", "song.mid"]  # no temporary left


def test_successful_write_leaves_only_the_output(tmp_path, small_song):
    song, bars = small_song
    edit(song, bars, tmp_path / "out.mid")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mid", "song.mid"]


# --- text -----------------------------------------------------------


def test_at_a_boundary_the_new_release_comes_before_the_next_attack(tmp_path):
    # The last new note (E4) ends at the range end, where the next original E4 starts: players
    # that pair a release with the newest attack need the release first.
    _, _, edited, out = write_and_read(tmp_path, [(0, 480, 60, 90), (3840, 4320, 64, 80)], [StepNote(24, 32, 64)])
    assert note_tuples(edited.tracks[0]) == [(0, 480, 60, 90), (2880, 3840, 64, 85), (3840, 4320, 64, 80)]
    at_boundary = [(m.type, m.velocity) for t, m in absolute_events(mido.MidiFile(out).tracks[1])
                   if t == 3840 and m.type in ("note_on", "note_off")]
    assert at_boundary == [("note_off", 64), ("note_on", 80)]


def test_outputs_get_ordinary_file_permissions(tmp_path, small_song):
    song, bars = small_song
    previous = os.umask(0o022)
    try:
        out = edit(song, bars, tmp_path / "out.mid")
    finally:
        os.umask(previous)
    assert out.stat().st_mode & 0o777 == 0o644
