"""The music21 folk corpus reader: ABC tunes into the same step notes MIDI reading gives."""

from __future__ import annotations

import pytest

from clsm_cli.data import music21_corpus
from clsm_cli.data.corpus import build_dataset
from clsm_cli.data.music21_corpus import Tune, declared_meters, list_folk_tunes, read_tune, split_tunes
from clsm_cli.data.shards import meter_groups, open_split
from clsm_cli.data.song_notes import SongSkipped
from clsm_cli.data.song_windows import song_result
from clsm_cli.timebase import Meter

HEADER = "X:1\nT:Test\nM:{meter}\nL:1/8\nK:G\n"

# A pickup, a chord symbol, a tie, an accidental carried through its bar, a grace note, a chord and
# a volta whose first ending must be left out.
TUNE = HEADER.format(meter="4/4") + 'D2|"G"G2 A2 B2 c2|d4- d2 ^c2|^c2 c2 {B}A2 [GBd]2|1 G8:|2 G6 z2|]\n'


def test_tune_becomes_step_notes_like_a_midi_file():
    song = read_tune(Tune("test.abc#1", TUNE))
    assert song.num_bars == 5
    (track,) = song.tracks
    assert track.is_monophonic and not track.is_drum and not track.is_bass
    assert [(n.start_step, n.end_step, n.pitch) for n in track.notes] == [
        (12, 16, 62),  # the pickup D, padded with a dotted-half rest to a full bar
        (16, 20, 67), (20, 24, 69), (24, 28, 71), (28, 32, 72),
        (32, 44, 74),  # d4- d2: one note
        (44, 48, 73),
        (48, 52, 73), (52, 56, 73),  # ^c2 c2: the sharp carries to the end of the bar
        (56, 60, 69),  # {B} grace note dropped
        (60, 64, 74),  # [GBd]: the top note
        (64, 76, 67),  # |1 G8 :| left out, |2 G6 z2 kept
    ]


def test_a_section_pickup_after_a_complete_bar_replaces_its_end():
    body = HEADER.format(meter="C|") + "G2 A2 B2 c2|d2 e2 f2 g2||B2|A2 B2 c2 d2|e8|]\n"
    notes = read_tune(Tune("t.abc#1", body)).tracks[0].notes
    assert [(n.start_step, n.end_step, n.pitch) for n in notes][4:9] == [
        (16, 20, 74), (20, 24, 76), (24, 28, 78),  # g2, the bar's last beat, gives way to the pickup
        (28, 32, 71),  # B2 on that beat
        (32, 36, 69),  # the next section starts on the bar line
    ]


def test_triplets_go_through_the_midi_quantizer():
    song = read_tune(Tune("t.abc#1", HEADER.format(meter="C") + "(3GAB c2 d4|G8|A8|]\n"))
    assert [(n.start_step, n.end_step) for n in song.tracks[0].notes] == [(0, 1), (1, 3), (3, 4), (4, 8), (8, 16), (16, 32), (32, 48)]


def test_tunes_in_other_meters_have_their_bars():
    jig = read_tune(Tune("t.abc#1", HEADER.format(meter="6/8") + "GAB c2d|e3 d3|G6|]\n"))
    assert jig.num_bars == 3 and [(s.group, s.num_bars) for s in jig.meter_sections] == [(Meter(6, 8), 3)]
    # 6/8 bars are 12 steps; an eighth note is 2.
    assert [(n.start_step, n.end_step) for n in jig.tracks[0].notes][:5] == [(0, 2), (2, 4), (4, 6), (6, 10), (10, 12)]
    waltz = read_tune(Tune("t.abc#1", HEADER.format(meter="3/4") + "D2|G2 A2 B2|c6|]\n"))  # a pickup
    assert [(n.start_step, n.end_step, n.pitch) for n in waltz.tracks[0].notes][:2] == [(8, 12, 62), (12, 16, 67)]


@pytest.mark.parametrize(
    "body, reason, groups",
    [
        (HEADER.format(meter="3/4") + "G2 A2 B2|c6|]\n", "meter", {Meter(4, 4)}),
        (HEADER.format(meter="none") + "G2 A2 B2|c6|]\n", "meter", None),
        (HEADER.format(meter="7/32") + "G2 A2 B2|c6|]\n", "meter", None),
        (HEADER.format(meter="4/4") + "G2 A2 B2 c2|d4|G2 A2 B2 c2|]\n", "irregular bars", None),
        # music21 drops a meter change inside a tune: such tunes are skipped (MIDI files keep theirs).
        (HEADER.format(meter="C|") + "G2 A2 B2 c2|[M:3/4] c6|]\n", "meter", None),
    ],
)
def test_unusable_tunes_are_skipped_with_a_reason(body, reason, groups):
    with pytest.raises(SongSkipped) as raised:
        read_tune(Tune("t.abc#1", body), groups)
    assert raised.value.reason == reason


def test_abc_files_split_into_tunes_with_the_file_header():
    text = "% header\n\nX:1\nT:a\nM:C\nK:D\nD8|]\n\nX:2\nT:b\nM:6/8\nK:D\nD6|]\nX:2\nM:2/2\nK:D\nD8|]\n"
    tunes = split_tunes(text, "col/file.abc")
    assert [tune.identity for tune in tunes] == ["col/file.abc#1", "col/file.abc#2", "col/file.abc#2.2"]
    assert all(tune.text.startswith("% header") for tune in tunes)
    assert [declared_meters(tune.text) for tune in tunes] == [["4/4"], ["6/8"], ["2/2"]]


def test_the_bundled_folk_corpus_is_listed_and_read():
    tunes = list_folk_tunes()
    identities = [tune.identity for tune in tunes]
    assert len(tunes) > 12_000 and len(set(identities)) == len(identities)
    assert {identity.split("/")[0] for identity in identities} == set(music21_corpus.FOLK_COLLECTIONS)
    tune = next(t for t in tunes if t.identity == "essenFolksong/altdeu10.abc#281")
    result = song_result(read_tune(tune))
    assert result.status == "kept"
    first = result.tracks[0].cut.windows[0]
    # "d2 | d2d2_e2e2": E flat twice (the flat carries through the bar), after a padded pickup.
    assert first[16:32].tolist() == [19, 31, 31, 31, 19, 31, 31, 31, 20, 31, 31, 31, 20, 31, 31, 31]
    assert first[:4].tolist() == [30, 31, 31, 31]


def test_build_from_the_corpus(monkeypatch, tmp_path):
    monkeypatch.setattr(music21_corpus, "FOLK_COLLECTIONS", ("nottingham-dataset",))
    manifest = build_dataset(tmp_path / "folk", corpus="music21", workers=1)
    assert manifest["sources"]["kind"] == "music21"
    assert manifest["sources"]["collections"] == ["nottingham-dataset"]
    assert manifest["files"]["total"] == 2
    assert manifest["files"]["kept"] + manifest["files"]["skipped"] == 2
    for group, group_record in meter_groups(manifest).items():
        for split, record in group_record["splits"].items():
            assert len(open_split(tmp_path / "folk", split, group)) == record["windows"]
