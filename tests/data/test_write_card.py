"""scripts/write_card.py --corpus pop909: the pop model's card has its data counts, harmony figure and MIT licence."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "write_card.py"

TRAINING = {
    "final_validation": {"reconstruction": 0.61, "kl": 2.5, "accuracy_posterior_mean": 0.81, "accuracy_prior_mean": 0.7},
    "settings": {"batch_size": 64, "learning_rate": 0.001, "kl_weight": 0.01, "anneal_epochs": 1, "free_bits": 0.5,
                 "seed": 0, "epochs": 2},
    "steps": 1000, "wall_seconds": 600, "epochs_completed": 2, "precision": "bf16",
    "data": {"manifest_hash": "abc123"},
}
QUALITY_LOG = """\
┃ check              ┃ real ┃ requirement ┃ 1.0 / 1.0 ┃
│ distinct pitches   │ 4.9  │ >= 4.4      │ 4.8 ok    │
│ pitch range        │ 9.2  │ >= 6.0      │ 5.1 x     │
"""
HARMONY_LOG = """\
harmony on 46 POP909 test songs of /tmp/pop909 (184 edits: bars 9-10, 2 files each, seed 0; model: pop-small 184)
chord-tone share on beats 1 and 3: new notes 0.750 (520 of 694), real bars 0.782 (313 of 400); difference -0.032 (within the goal of 0.10)
harmony of pop-small on 300 test windows of data/pop909 (...)
chord-tone share on beats 1 and 3: new notes 0.612 (100 of 163), real bars 0.660 (60 of 91); difference -0.048 (within the goal of 0.10)
"""


def test_pop_card_has_counts_harmony_and_mit_licence(tmp_path):
    (tmp_path / "scripts").mkdir()
    shutil.copy(SCRIPT, tmp_path / "scripts" / "write_card.py")
    model = tmp_path / "weights" / "pop-small"
    model.mkdir(parents=True)
    config = {"meters": [[4, 4], [2, 2]], "steps_per_bar": 16, "window_steps": 128,
              "decoding_temperature": 1.0, "decoding_top_p": 0.95}
    (model / "config.json").write_text(json.dumps({"config": config, "training": TRAINING}))
    (model / "model.safetensors").write_bytes(b"0" * 1000)
    data = tmp_path / "data" / "pop909"
    data.mkdir(parents=True)
    splits = {name: {"songs": n, "windows": 10 * n, "transposed": name.startswith("train")}
              for name, n in (("train-1", 471), ("valid-1", 51), ("train-2", 248), ("valid-2", 47), ("test", 46))}
    (data / "manifest.json").write_text(json.dumps({"meter_groups": {"4/4": {"songs": 863, "splits": splits}}}))
    (tmp_path / "quality.txt").write_text(QUALITY_LOG)
    (tmp_path / "harmony.txt").write_text(HARMONY_LOG)
    done = subprocess.run([sys.executable, str(tmp_path / "scripts" / "write_card.py"), "pop-small",
                           str(tmp_path / "quality.txt"), "--corpus", "pop909", "--data", str(data),
                           "--harmony", str(tmp_path / "harmony.txt"), "--why", "it passed."],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    card = (model / "CARD.md").read_text()
    assert "863 songs kept; train-1 471 songs / 4,710 windows (with transpositions)" in card
    songs, windows = (line for line in card.splitlines() if "chord-tone share" in line)
    assert "POP909 test songs" in songs and "new notes 0.750" in songs and "model: pop-small 184" in songs
    assert "The model alone" in windows and "new notes 0.612" in windows
    assert "MIT" in card and "non-commercial" not in card
    assert "--corpus pop909" in card and "--data data/pop909" in card
    assert "1 of 2 checks pass; it misses: pitch range" in card
