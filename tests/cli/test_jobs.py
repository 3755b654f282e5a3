"""``--jobs N``: a batch edited in N processes writes the same files and the same JSON lines, in the
order of the inputs, as one process does; a bad file among them fails alone."""

from __future__ import annotations

import json

from synthetic_midi.midi_factory import scale_melody, write_song


def test_a_batch_in_two_processes_matches_one_process_in_order(run_clsm, tiny_model_dir, tmp_path):
    songs = [write_song(tmp_path / f"song{index}.mid", scale_melody(10, first_pitch=60 + index)) for index in range(5)]
    broken = tmp_path / "broken.mid"
    broken.write_bytes(b"MThd not really")
    inputs = [*songs[:2], broken, *songs[2:]]

    def batch(out, *extra):
        result = run_clsm("infill", *map(str, inputs), "--bars", "3-4", "-n", "2", "--seed", "4", "--json",
                          "--model", str(tiny_model_dir), "--out", str(tmp_path / out), "--no-preview", *extra)
        return result, [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]

    one, one_lines = batch("one")
    two, two_lines = batch("two", "--jobs", "2")
    assert one.exit_code == two.exit_code == 3, two.output  # the broken file's exit code; the rest went on
    assert [line["input"] for line in two_lines] == [str(path) for path in inputs]
    assert [line["ok"] for line in two_lines] == [True, True, False, True, True, True]
    for first, second in zip(one_lines, two_lines):
        assert [o["path"].replace("/one/", "/two/") for o in first["outputs"]] == [o["path"] for o in second["outputs"]]
    written = sorted(path.name for path in (tmp_path / "two").glob("*.mid"))
    assert written == sorted(path.name for path in (tmp_path / "one").glob("*.mid")) and len(written) == 10
    for name in written:
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()
    assert two.stderr.count("(cpu), seed 4") == 1 and "broken.mid" in two.stderr  # the model is named once
