"""``--key``, ``--range``, ``--keep-rhythm``, ``--max-leap``, ``--density``, ``--pool``, ``--rank`` on the
command line: impossible settings are usage errors before any model loads, and ``--json`` carries
the key, each candidate's score with its parts and the controls requested and achieved."""

from __future__ import annotations

import json

import pytest

from clsm_cli.errors import EXIT_USAGE


@pytest.mark.parametrize(("options", "message"), [
    (("--key", "D", "--range", "C4-C4"), "holds no note of D major"),
    (("--density", "5-2"), "low to high"),
    (("--range", "E6-G3"), "low to high"),
    (("--range", "C4"), "is not a range"),
    (("--key", "H minor"), "is not a key"),
    (("--keep-rhythm", "--density", "1-3"), "give one of them"),
    (("--rank", "best"), "--rank must be fit or none"),
    (("--pool", "0"), "--pool must be at least 1"),
])
@pytest.mark.parametrize("verb", ["infill", "vary"])
def test_impossible_settings_exit_2_before_the_model_loads(verb, options, message, run_clsm, song, tmp_path):
    # A model that does not exist would be exit 4: exit 2 says the options were refused first.
    result = run_clsm(verb, song, "--bars", "3-4", "--model", str(tmp_path / "no-such-model"), *options)
    assert result.exit_code == EXIT_USAGE, result.output
    assert message in result.stderr


def test_json_carries_the_key_scores_and_controls(run_clsm, song, tiny_model_dir, tmp_path):
    result = run_clsm("infill", song, "--bars", "3-4", "--model", str(tiny_model_dir), "--seed", "2", "-n", "3",
                      "--key", "G", "--range", "G3-E6", "--max-leap", "7", "--pool", "5", "--json",
                      "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["key"]["name"] == "C major" and record["key"]["source"] == "estimated"
    assert record["controls"]["key"] == "G" and record["controls"]["range"] == [55, 88]
    assert record["controls"]["max_leap"] == 7 and record["pool"] == 5
    outputs = record["outputs"]
    assert len(outputs) == 3 and len({output["draw_index"] for output in outputs}) == 3
    totals = [output["score"]["total"] for output in outputs]
    assert totals == sorted(totals, reverse=True)  # best first
    for output in outputs:
        assert output["controls"]["in_key_share"] == 1.0 and output["controls"]["largest_leap"] <= 7
        assert 55 <= output["controls"]["lowest"] <= output["controls"]["highest"] <= 88
    assert "--key G" in record["reproduce"] and "--pool 5" in record["reproduce"]
    from clsm_cli.editing.provenance import parse_provenance
    from clsm_cli.music.midi_read import read_text_events

    for output in outputs:  # each file records the pool member it is
        (stored,) = parse_provenance(read_text_events(output["path"]))
        assert stored["draw_index"] == output["draw_index"]


def test_rank_none_keeps_draw_order_and_the_same_seed_gives_the_best_of_the_same_pool(run_clsm, song, tiny_model_dir,
                                                                                       tmp_path):
    def outputs(*options, out):
        result = run_clsm("infill", song, "--bars", "3-4", "--model", str(tiny_model_dir), "--seed", "4", "--json",
                          "--out", tmp_path / out, *options)
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)["outputs"]

    drawn = outputs("-n", "4", "--rank", "none", out="none")
    assert [output["draw_index"] for output in drawn] == [1, 2, 3, 4]
    two, four = outputs("-n", "2", out="two"), outputs("-n", "4", out="four")
    assert [o["target_tokens"] for o in two] == [o["target_tokens"] for o in four[:2]]
