"""`clsm evaluate` end to end on tiny saved models: outputs, rows, record, and option errors."""

from __future__ import annotations

import csv
import hashlib
import json
import sys

import pytest

from clsm_cli.cli.evaluate import model_sources, parse_names
from clsm_cli.errors import EXIT_INPUT, EXIT_MODEL, EXIT_OUTPUT, EXIT_USAGE, UsageError
from clsm_cli.eval.metrics import CASES

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
ROW_NAMES = ("clsm-a", "vae-a", "arnn-a", "arnn-t-a")


def test_evaluate_writes_every_output_with_every_model_and_case(run_clsm, eval_data, saved_models, tmp_path):
    out = tmp_path / "results"
    models = [saved_models[kind] for kind in ("clsm", "vae", "arnn", "arnn-t")]
    result = run_clsm(
        "evaluate", "--data", eval_data, "--lm", saved_models["lm"], "--out", out, "--windows", 8, "--seed", 0,
        "--device", "cpu", "--models", *models, "--names", ",".join(ROW_NAMES),
    )
    assert result.exit_code == 0, result.output
    with open(out / "results.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    expected = [(name, case) for name in ("Data", "Copy", "Random", *ROW_NAMES) for case in CASES]
    assert [(row["model"], row["case"]) for row in rows] == expected
    by_key = {(row["model"], row["case"]): row for row in rows}
    assert {row["family"] for row in rows} == {"Data", "Copy", "Random", "CLSM", "VAE", "ARNN", "ARNN_T"}
    for case in CASES:
        assert int(by_key[("clsm-a", case)]["windows"]) > 0  # seed 0 puts windows in both cases
        assert float(by_key[("clsm-a", case)]["nll_window"]) > 0
        assert by_key[("clsm-a", case)]["recon_left_contextual"] != ""
        assert by_key[("arnn-a", case)]["r8"] == "" and by_key[("arnn-a", case)]["recon_left_contextual"] == ""

    markdown = (out / "results.md").read_text()
    for name in ("Data", "Copy", "Random", *ROW_NAMES):
        assert f"| {name} |" in markdown
    for plot in ("smoothness.png", "nll.png"):
        assert (out / plot).read_bytes()[:8] == PNG_MAGIC
    record = json.loads((out / "run.json").read_text())
    assert record["seed"] == 0 and record["windows"] == 8
    assert record["data"]["manifest_sha256"] == hashlib.sha256((eval_data / "manifest.json").read_bytes()).hexdigest()
    assert [model["name"] for model in record["models"]] == list(ROW_NAMES)
    assert record["models"][0]["training"] == {"preset": "tiny"} and record["lm"]["kind"] == "lm"
    assert record["code"]["clsm"] and record["environment"]["device"] == "cpu"
    assert "clsm-a" in result.stdout  # the table on screen

    again = run_clsm("evaluate", "--data", eval_data, "--lm", saved_models["lm"], "--out", out, "--models",
                     saved_models["clsm"], "--no-plots")
    assert again.exit_code == EXIT_OUTPUT and "--force" in again.stderr


def test_quality_mode_prints_and_writes_the_checks(run_clsm, eval_data, saved_models, tmp_path):
    out = tmp_path / "quality"
    result = run_clsm(
        "evaluate", "--quality", "--data", eval_data, "--models", saved_models["clsm"], "--lm", saved_models["lm"],
        "--windows", 4, "--candidates", 2, "--temperature", 0.8, "--top-p", 0.95, "--device", "cpu", "--out", out,
    )
    assert result.exit_code == 0, result.output
    assert "repeated-note share" in result.stdout and "well-formed share" in result.stdout
    record = json.loads((out / "quality.json").read_text())
    assert record["quality"]["temperature"] == 0.8 and record["quality"]["candidates"] == 2
    assert record["quality"]["generated"]["targets"] == 8
    assert set(record["quality"]["nll"]) == {"generated", "Data", "Copy", "Random"}
    assert "| pairwise edit-distance ratio |" in (out / "quality.md").read_text()


@pytest.mark.parametrize(
    "arguments, exit_code, message",
    [
        (("--models", "{clsm}", "--out", "{out}"), EXIT_USAGE, "--lm"),
        (("--lm", "{lm}", "--models", "{clsm}"), EXIT_USAGE, "--out"),
        (("--lm", "{lm}", "--out", "{out}"), EXIT_USAGE, "at least one model"),
        (("--lm", "{lm}", "--out", "{out}", "--models", "{clsm}", "{vae}", "--names", "one"), EXIT_USAGE, "--names"),
        (("--lm", "{clsm}", "--out", "{out}", "--models", "{vae}", "--no-plots"), EXIT_MODEL, "language model"),
        (("--lm", "{lm}", "--out", "{out}", "--models", "{lm}", "--no-plots"), EXIT_USAGE, "lm"),
        (("--lm", "{lm}", "--out", "{out}", "--models", "{out}/none", "--no-plots"), EXIT_MODEL, "no model"),
        (("--quality", "--models", "{clsm}", "{vae}"), EXIT_USAGE, "one CLSM"),
        (("--quality", "--models", "{vae}"), EXIT_USAGE, "CLSM"),
        (("--lm", "{lm}", "--out", "{out}", "--models", "{clsm}", "--split", "nope"), EXIT_USAGE, "split"),
    ],
)
def test_bad_options_give_one_sentence_and_an_exit_code(
    run_clsm, eval_data, saved_models, tmp_path, arguments, exit_code, message
):
    values = {"clsm": saved_models["clsm"], "vae": saved_models["vae"], "lm": saved_models["lm"], "out": tmp_path / "o"}
    filled = [argument.format(**values) for argument in arguments]
    result = run_clsm("evaluate", "--data", eval_data, "--device", "cpu", *filled)
    assert result.exit_code == exit_code, result.output
    assert message in result.stderr and "Traceback" not in result.output


def test_missing_data_is_an_input_error(run_clsm, saved_models, tmp_path):
    result = run_clsm("evaluate", "--data", tmp_path / "nothing", "--lm", saved_models["lm"], "--out", tmp_path / "o",
                      "--models", saved_models["clsm"], "--no-plots")
    assert result.exit_code == EXIT_INPUT and "clsm data build" in result.stderr


def test_models_and_names_keep_the_command_line_order():
    assert model_sources(["a"], ["b", "c"]) == ["a", "b", "c"]  # --models a b c
    assert model_sources(["a", "b"], []) == ["a", "b"]  # --models a --models b
    with pytest.raises(UsageError):
        model_sources(["a", "b"], ["c"])
    assert parse_names(["x,y", "z"], 3) == ["x", "y", "z"]
    assert parse_names([], 2) == [None, None]
    with pytest.raises(UsageError):
        parse_names(["x,x"], 2)


def test_missing_matplotlib_is_explained(monkeypatch):
    from clsm_cli.eval.plots import require_matplotlib

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` fail
    with pytest.raises(UsageError, match="clsm-cli\\[eval\\]"):
        require_matplotlib()


def test_evaluate_help_does_not_import_torch():
    import subprocess

    code = "import sys; from clsm_cli.cli.app import app; import clsm_cli.cli.evaluate; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


def test_evaluate_refuses_an_lm_or_model_on_another_grid(run_clsm, eval_data, saved_models, tmp_path):
    import torch

    from clsm_cli.checkpoint import save_model
    from clsm_cli.models.config import preset_config, with_grid
    from clsm_cli.models.registry import build_model
    from clsm_cli.timebase import TRIPLET_GRID

    torch.manual_seed(0)
    triplet_lm = save_model(build_model(with_grid(preset_config("lm", "tiny"), TRIPLET_GRID)), tmp_path / "lm-3")
    result = run_clsm("evaluate", "--data", eval_data, "--lm", triplet_lm, "--out", tmp_path / "out", "--windows", 8,
                      "--device", "cpu", "--models", saved_models["clsm"])
    assert result.exit_code == EXIT_USAGE
    assert "the LM reads the triplet grid but the data is on the 16th grid" in result.output
    assert not (tmp_path / "out" / "results.csv").exists()
