"""The audition file (``--combined``): passes one after another, a track and a channel per version."""

import mido
import pytest

from clsm_cli.errors import OutputError
from clsm_cli.music.bars import BarRange, song_bars
from clsm_cli.music.midi_read import read_midi, read_text_events
from clsm_cli.music.midi_write import AuditionVersion, audition_layout, write_audition_file
from clsm_cli.music.tokens import StepNote
from synthetic_midi.midi_factory import SongSpec, TrackSpec
from tests.music.audition_checks import audition_structure

BAR = 4 * 480  # ticks of a 4/4 bar at 480 ticks per beat


@pytest.fixture
def band(tmp_path):
    """Eight bars of 4/4: a melody on channel 3 (quarters), bass on channel 1, drums on channel 10."""
    melody = TrackSpec([(i * 480, i * 480 + 400, 72 + i % 3, 90) for i in range(32)], channel=3, program=40,
                       name="Lead")
    bass = TrackSpec([(i * BAR, i * BAR + BAR, 40, 70) for i in range(8)], channel=1, program=33, name="Bass")
    drums = TrackSpec([(i * 960, i * 960 + 100, 36, 100) for i in range(16)], channel=9, name="Drums")
    path = SongSpec([melody, bass, drums], tempos=[(0, 500_000), (5 * BAR, 400_000)]).write(tmp_path / "band.mid")
    song = read_midi(path)
    return song, song_bars(song), next(t for t in song.tracks if t.name == "Lead")


def versions_of(bars, target: BarRange, count: int):
    """The original line plus ``count`` versions whose target bars hold one long note each."""
    start, end = target.step_span(bars)
    context = [StepNote(step, step + 4, 72) for step in range(0, bars[-1].end_step, 4) if not start <= step < end]
    versions = [AuditionVersion("original", context + [StepNote(start, end, 70)])]
    versions += [AuditionVersion(f"candidate {k}", context + [StepNote(start, end, 60 + k)]) for k in range(1, count + 1)]
    return versions


def test_passes_do_not_overlap_and_each_has_one_marker_track_and_channel(tmp_path, band):
    song, bars, lead = band
    target = BarRange(3, 4)
    out = write_audition_file(song, lead, bars, target, versions_of(bars, target, 3), tmp_path / "all.mid", "prov")
    found = audition_structure(out)
    assert [text for _, text in found["markers"]] == ["original", "candidate 1", "candidate 2", "candidate 3"]
    # A pass: bars 2-5 (a bar of context each side of 3-4), then a bar of rest.
    assert found["stride"] == 5 * BAR and [tick for tick, _ in found["markers"]] == [0, 5 * BAR, 10 * BAR, 15 * BAR]
    assert len(set(found["channels"])) == 4 and not {1, 9} & set(found["channels"])  # not the bass's nor drums'
    # The other tracks play under every pass: a bass note per bar, two kicks per bar.
    assert found["others"] == {"Bass": [4, 4, 4, 4], "Drums": [8, 8, 8, 8]}
    assert read_text_events(out) == ["prov"]


def test_each_pass_holds_its_version_in_the_target_and_the_context_around_it(tmp_path, band):
    song, bars, lead = band
    target = BarRange(3, 4)
    out = write_audition_file(song, lead, bars, target, versions_of(bars, target, 2), tmp_path / "all.mid", "prov")
    written = read_midi(out)
    by_name = {track.name: track for track in written.tracks}
    for number, (name, pitch) in enumerate((("original", 70), ("candidate 1", 61), ("candidate 2", 62))):
        notes = [(n.start_tick - number * 5 * BAR, n.end_tick - number * 5 * BAR, n.pitch) for n in by_name[name].notes]
        assert (BAR, 3 * BAR, pitch) in notes  # the target: song bars 3-4 are bars 2-3 of the pass
        assert sum(1 for start, _, p in notes if start < BAR and p == 72) == 4  # a bar of context before
        assert sum(1 for start, _, p in notes if start >= 3 * BAR and p == 72) == 4  # and after
        assert all(0 <= start and end <= 4 * BAR for start, end, _ in notes)


def test_the_tempo_and_meter_in_force_are_repeated_in_every_pass(tmp_path, band):
    song, bars, lead = band
    target = BarRange(5, 6)  # bars 4-7 played: the tempo changes at bar 6
    out = write_audition_file(song, lead, bars, target, versions_of(bars, target, 1), tmp_path / "all.mid", "prov")
    written = read_midi(out)
    assert written.tempos == [(0, 500_000), (2 * BAR, 400_000), (5 * BAR, 500_000), (7 * BAR, 400_000)]
    assert [tick for tick, _, _ in written.time_signatures] == [0, 5 * BAR]


def test_a_target_at_the_start_of_the_song_has_context_after_it_only(tmp_path, band):
    song, bars, lead = band
    layout = audition_layout(song, lead, bars, BarRange(1, 2), 2)
    assert layout.passage == (0, 3 * BAR) and layout.stride == 4 * BAR
    last = audition_layout(song, lead, bars, BarRange(8, 8), 2)
    assert last.passage == (6 * BAR, 8 * BAR)


def test_more_versions_than_free_channels_share_them_round_robin(band):
    song, bars, lead = band
    layout = audition_layout(song, lead, bars, BarRange(3, 4), 20)
    free = [channel for channel in range(16) if channel not in (1, 9)]
    assert list(layout.channels) == [free[number % len(free)] for number in range(20)]


def test_an_existing_audition_file_is_refused_without_force(tmp_path, band):
    song, bars, lead = band
    target = BarRange(3, 4)
    out = write_audition_file(song, lead, bars, target, versions_of(bars, target, 1), tmp_path / "all.mid", "p")
    with pytest.raises(OutputError, match="already exists"):
        write_audition_file(song, lead, bars, target, versions_of(bars, target, 1), out, "p")
    assert mido.MidiFile(out).type == 1
