"""``build_dataset`` on a synthetic MIDI corpus (4/4 only): counts, splits, window contents, rebuilds."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from clsm_cli.constants import WINDOW_STEPS
from clsm_cli.data.corpus import build_dataset
from clsm_cli.data.shards import MANIFEST_NAME, open_split, read_manifest
from clsm_cli.data.song_notes import SongNotes, TrackNotes
from clsm_cli.data.song_windows import song_result
from clsm_cli.data.splits import HELD_OUT_SPLITS, SPLITS, TRAIN_SPLITS, split_of
from clsm_cli.errors import OutputError, UsageError
from clsm_cli.music.midi_read import read_midi
from clsm_cli.music.tokens import StepNote, cut_window, decode_tokens, encode_notes
from tests.data.synthetic_corpus import SongPlan, scale_line, write_corpus
from synthetic_midi.midi_factory import make_midi, melody_track


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    plans = write_corpus(root)
    out = tmp_path_factory.mktemp("built") / "dataset"
    manifest = build_dataset(out, [root], meters=["4/4"], workers=1, windows_per_shard=7)
    return root, plans, out, manifest


# sha256 over the shard and origin files (relative path, bytes) of the fixture's 4/4 windows, as the
# build of 4/4 and 2/2 songs wrote them before meters had groups: 4/4 bytes must not change.
FOUR_FOUR_WINDOWS_SHA256 = "460b549c8d302e58754a4892efde6b6e35447e266d045bb4dd97da1a34ab252c"


def kept_plans(plans: list[SongPlan]) -> list[SongPlan]:
    return [plan for plan in plans if plan.skip_reason is None]


def test_files_kept_and_skipped_match_the_plans(corpus):
    _, plans, out, manifest = corpus
    assert manifest == read_manifest(out)
    files = manifest["files"]
    assert files["total"] == len(plans) == 12
    assert files["kept"] == len(kept_plans(plans)) == 7
    expected = Counter(plan.skip_reason for plan in plans if plan.skip_reason)
    assert {reason: entry["count"] for reason, entry in files["skipped_by_reason"].items()} == expected
    assert expected == {"meter": 1, "no window": 2, "no usable track": 1, "unreadable": 1}
    assert list(manifest["meter_groups"]) == ["4/4"] and manifest["parameters"]["meters"] == ["4/4"]
    details = {e["source"]: e["detail"] for e in files["skipped_by_reason"]["no window"]["examples"]}
    assert details["folk/changes.mid"] == "no 8 bars in a row in one meter (the longest run is 4)"
    assert manifest["windows_dropped_at_meter_change"] == 4
    assert files["skipped_by_reason"]["unreadable"]["examples"][0]["source"] == "broken/corrupt.mid"
    assert "truncated" in files["skipped_by_reason"]["unreadable"]["examples"][0]["detail"]


def test_four_four_windows_are_the_bytes_of_the_build_before_meter_groups(corpus):
    group = corpus[2] / "4-4"
    digest = hashlib.sha256()
    for path in sorted(p for p in group.rglob("*") if p.is_file() and p.suffix in (".u8", ".i32")):
        digest.update(path.relative_to(group).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    assert digest.hexdigest() == FOUR_FOUR_WINDOWS_SHA256


def test_track_filter_counts_match_the_plans(corpus):
    _, plans, _, manifest = corpus
    expected = Counter()
    for plan in plans:
        expected.update(plan.track_counts)
    assert {name: count for name, count in manifest["tracks"].items() if count} == dict(expected)
    # anthem: drums, bass by program, chords, a line above 84; band: drums, chords; two.mid: "Bass".
    assert manifest["tracks"] == {"drum": 2, "bass": 2, "empty": 0, "polyphonic": 2, "out of range": 1, "usable": 10}


def test_song_result_checks_the_pitches_of_tracks_built_in_code():
    # TrackNotes made elsewhere than the MIDI reader may claim to be in range: the notes decide.
    in_range = TrackNotes(1, "melody", [StepNote(16 * bar, 16 * bar + 8, 60 + bar) for bar in range(9)])
    too_high = TrackNotes(2, "whistle", [StepNote(0, 16, 90)])
    result = song_result(SongNotes(num_bars=9, tracks=[in_range, too_high]))
    assert result.status == "kept" and result.track_counts["out of range"] == 1
    assert [track.number for track in result.tracks] == [1] and len(result.tracks[0].cut) == 2
    assert result.tracks[0].cut.shifts == tuple(range(-5, 6))  # 60..68: 6 down would reach 54
    alone = song_result(SongNotes(num_bars=9, tracks=[too_high]))
    assert (alone.status, alone.detail) == ("no usable track", "1 out of range")


def test_window_counts_per_split_with_and_without_transpositions(corpus):
    _, plans, _, manifest = corpus
    group = manifest["meter_groups"]["4/4"]
    assert (group["window_steps"], group["steps_per_bar"], group["split_adjustments"]) == (128, 16, [])
    assert group["songs_by_meter"] == {"2/2": 1, "4/4": 5}
    for split in SPLITS:
        in_split = [plan for plan in kept_plans(plans) if split_of(plan.identity) == split]
        assert in_split, split  # every split holds a song by its hash: no small-folder adjustment
        record = group["splits"][split]
        original = sum(m.windows for plan in in_split for m in plan.melodies)
        augmented = sum(m.windows * len(m.shifts) for plan in in_split for m in plan.melodies)
        assert record["windows_original_key"] == original
        assert record["songs"] == len({plan.identity for plan in in_split})
        assert record["files"] == len(in_split)
        assert record["tracks"] == sum(len(plan.melodies) for plan in in_split)
        if split in TRAIN_SPLITS:
            assert record["transposed"] and record["windows"] == augmented
        else:
            assert not record["transposed"] and record["windows"] == original
            assert record["dropped_seen_in_training"] == 0  # every melody of the corpus differs
        assert len(open_split(corpus[2], split)) == len(open_split(corpus[2], split, "2/2")) == record["windows"]
    assert manifest["windows_dropped_for_rest"] == 7  # gap.mid: windows 2..8 hold two silent bars
    total = sum(record["windows_original_key"] for record in group["splits"].values())
    assert total == 5 + 2 + 1 + 2 + 2 + 1 + 1 + 1


def test_no_song_in_two_splits_and_split_is_the_hash(corpus):
    _, _, out, _ = corpus
    sources = json.loads((out / "4-4" / "sources.json").read_text())
    splits_of_song: dict[str, set] = {}
    for entry in sources:
        splits_of_song.setdefault(entry["song"], set()).add(entry["split"])
        assert entry["split"] == split_of(entry["song"])
        assert entry["meters"] == (["2/2"] if entry["song"] == "cut_time" else ["4/4"])
    assert all(len(splits) == 1 for splits in splits_of_song.values())
    # The two LMD versions share their TR folder's identity.
    lmd = [entry for entry in sources if entry["source"].startswith("lmd/")]
    assert {entry["song"] for entry in lmd} == {"TRAAAGR128F425B14B"} and len(lmd) == 2


def _melody_notes(root: Path, plan: SongPlan) -> dict[int, list]:
    """Track number -> planned notes, matched by the track names the corpus writes."""
    song = read_midi(root / plan.path)
    by_name = {track.name: track.number for track in song.tracks}
    return {by_name[f"Melody {index + 1}"]: melody.notes for index, melody in enumerate(plan.melodies)}


def test_every_window_is_its_source_melody_cut_and_transposed(corpus):
    root, plans, out, _ = corpus
    plan_of = {plan.path: plan for plan in plans}
    seen_origins = Counter()
    for split in SPLITS:
        windows = open_split(out, split)
        for index in range(len(windows)):
            origin = windows.origin(index)
            plan = plan_of[origin["source"]]
            assert origin["song"] == plan.identity
            notes = _melody_notes(root, plan)[origin["track"]]
            shift = origin["semitones"]
            expected_line = encode_notes([StepNote(s, e, p + shift) for s, e, p in notes], 16 * 16)
            start = (origin["first_bar"] - 1) * 16
            expected = cut_window(expected_line, start, WINDOW_STEPS)
            assert np.array_equal(windows[index], expected), (split, origin)
            # Decoded, every note is a source note (transposed), the first possibly clipped.
            source_notes = {(s, e, p + shift) for s, e, p in notes}
            for note in decode_tokens(windows[index], start_step=start):
                if note.start_step == start:
                    assert any(s <= start < e and p == note.pitch for s, e, p in source_notes)
                else:
                    assert (note.start_step, note.end_step, note.pitch) in source_notes or note.end_step == start + 128
            seen_origins[(origin["source"], split, shift)] += 1
    # Each kept melody appears in exactly its allowed keys (training) or only its own (held out).
    for plan in kept_plans(plans):
        split = split_of(plan.identity)
        shifts = {shift for m in plan.melodies for shift in m.shifts} if split in TRAIN_SPLITS else {0}
        found = {shift for (source, s, shift) in seen_origins if source == plan.path}
        assert found == shifts, plan.path


def test_rebuild_gives_identical_bytes_with_any_worker_count(corpus, tmp_path):
    root, _, out, manifest = corpus
    again = tmp_path / "again"
    manifest_again = build_dataset(again, [root], meters="4/4", workers=2, windows_per_shard=7)
    assert manifest_again == manifest
    files = sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    assert any(str(f).endswith("shard-00001.u8") for f in files)  # several shards were written
    for relative in files:
        assert (out / relative).read_bytes() == (again / relative).read_bytes(), relative


def test_held_out_windows_seen_in_training_are_dropped(tmp_path):
    """The same tune under two identities (two collections): its held-out copy is dropped, also
    when it is written in another key; a held-out tune of its own stays."""

    def name_in(split: str, prefix: str) -> str:
        return next(name for name in (f"{prefix}-{n}" for n in range(10_000)) if split_of(name) == split)

    # One song in each split, so the folder's splits are the hash's (no small-folder moves).
    train_name, other_train = name_in("train-1", "tune"), name_in("train-2", "tune")
    held_names = [name_in(split, "copy") for split in HELD_OUT_SPLITS]
    line = scale_line(10, 60, 71, note_steps=2)  # 3 windows
    own_line = scale_line(10, 62, 66, note_steps=4)
    root = tmp_path / "src"
    root.mkdir()
    make_midi(root / f"{train_name}.mid", [melody_track(line)])
    make_midi(root / f"{other_train}.mid", [melody_track(scale_line(10, 64, 67, note_steps=8))])
    make_midi(root / f"{held_names[0]}.mid", [melody_track(line)])
    make_midi(root / f"{held_names[1]}.mid", [melody_track([(s, e, p + 3) for s, e, p in line])])
    make_midi(root / f"{held_names[2]}.mid", [melody_track(own_line)])
    manifest = build_dataset(tmp_path / "out", [root], workers=1)
    splits = manifest["meter_groups"]["4/4"]["splits"]
    dropped = sum(splits[split].get("dropped_seen_in_training", 0) for split in HELD_OUT_SPLITS)
    kept = sum(splits[split]["windows"] for split in HELD_OUT_SPLITS)
    assert dropped == 6 and kept == 3


def test_output_directory_rules(corpus, tmp_path):
    root, _, out, _ = corpus
    with pytest.raises(OutputError, match="--force"):
        build_dataset(out, [root], workers=1)
    unrelated = tmp_path / "notes"
    unrelated.mkdir()
    (unrelated / "todo.txt").write_text("keep me")
    with pytest.raises(OutputError, match="no clsm dataset"):
        build_dataset(unrelated, [root], workers=1, force=True)
    assert (unrelated / "todo.txt").read_text() == "keep me"
    replaced = tmp_path / "replaced"
    build_dataset(replaced, [root / "pop"], workers=1)
    first = read_manifest(replaced)["files"]["total"]
    build_dataset(replaced, [root], workers=1, force=True)
    assert (first, read_manifest(replaced)["files"]["total"]) == (5, 12)
    assert not any(p.name.startswith(".replaced") for p in tmp_path.iterdir())  # no temporary left
    assert (replaced / MANIFEST_NAME).is_file()


def test_usage_errors(tmp_path):
    with pytest.raises(UsageError, match="give MIDI folders to read, or a --corpus"):
        build_dataset(tmp_path / "a", [])
    with pytest.raises(UsageError, match="--corpus pop909 needs the folder"):
        build_dataset(tmp_path / "a", corpora=[("pop909", None)])
    with pytest.raises(UsageError, match="does not exist"):
        build_dataset(tmp_path / "b", [tmp_path / "missing"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="no .mid"):
        build_dataset(tmp_path / "c", [tmp_path / "empty"])
    with pytest.raises(UsageError, match="--workers"):
        build_dataset(tmp_path / "d", [tmp_path], workers=0)
    assert not (tmp_path / "c").exists()
