"""Write ``weights/<name>/CARD.md`` for a shipped meter model from its config and a quality log.

    python scripts/write_card.py folk-small-3-4 docs/quality-folk-small-3-4.txt --column 1 \\
        --why "temperature 1.2, top-p 1.0 passed the most checks of 1.1 / 1.2 / 1.2:0.95"
    python scripts/write_card.py pop-small docs/quality-pop-small.txt --corpus pop909 --data data/pop909 \\
        --harmony docs/harmony-pop-small.txt --why "..."

``--corpus pop909`` writes the pop model's domain, data command and licence (POP909 is MIT, and so
are the weights); ``--data DIR`` takes the split counts from the data set's manifest; ``--harmony
LOG`` quotes ``benchmarks/harmony.py``'s figure (chord-tone share of new notes on beats 1 and 3
against the real bars').

The figures come from ``config.json``'s training record and from the table ``benchmarks/quality.py``
printed (its ``--column``-th decoding, counted from 0), so the card says what was measured.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
CHECK_NAMES = {  # quality.py's row names, whole (its table may cut them)
    "repeated": "repeated-note share", "distinct": "distinct pitches per target", "pitch range": "pitch range (semitones)",
    "note onsets": "note onsets per bar", "1-2": "1-2 semitone step share", "jump into": "jump into target (semitones)",
    "jump out": "jump out of target (semitones)", "well-formed": "well-formed share",
    "pairwise": "pairwise edit-distance ratio", "in key": "in key: new notes in the tune's scale",
    "reconstruc": "reconstruction: posterior mean vs prior mean",
}
DATA_COUNTS = {  # clsm data build --corpus music21 --meters 3/4,6/8,2/4 (songs / windows written)
    "3/4": "1,446 songs kept; train-1 806 songs / 77,009 windows (with transpositions), valid-1 71 / 588, test 64 / 518",
    "6/8": "1,852 songs kept; train-1 1,019 songs / 92,949 windows (with transpositions), valid-1 82 / 643, test 89 / 692",
    "2/4": "2,893 songs kept; train-1 1,607 songs / 171,567 windows (with transpositions), valid-1 142 / 1,257, test 158 / 1,517",
}


def quality_rows(log_text: str, column: int) -> list[tuple[str, str, str, str]]:
    """(check, real or bound, requirement, model figure with ok/x) per row of the logged table."""
    rows: list[list[str]] = []
    for line in log_text.splitlines():
        if not line.startswith("│"):
            continue
        cells = [cell.strip() for cell in line.strip().strip("│").split("│")]
        if cells[1]:
            rows.append(cells)
        else:
            rows[-1] = [(old + " " + new).strip() for old, new in zip(rows[-1], cells)]
    named = []
    for cells in rows:
        name = next((whole for key, whole in CHECK_NAMES.items() if cells[0].lower().startswith(key)), cells[0])
        named.append((name, cells[1], cells[2], cells[3 + column]))
    return named


CORPORA = {
    "folk": {
        "domain": "European folk tunes (mostly the Essen collection, with O'Neill's and other Irish and\n"
                  "  British tunes). Other styles are outside what it has heard.",
        "trained_on": "the {meter} folk tunes of music21's corpus",
        "build": "clsm data build --corpus music21 --meters 3/4,6/8,2/4 --out data/folk-meters",
        "data_dir": "data/folk-meters",
        "licence": "The example `examples/` tune in {meter} is from the test split. Licence: the tunes are traditional\n(public domain); the music21 encodings are distributed for "
                   "non-commercial use, and these weights\ninherit that condition.",
        "extra": "[train,corpus]",
    },
    "folk-cre": {
        "domain": "European folk tunes (music21's corpus: the Essen collection, O'Neill's and other Irish and\n"
                  "  British tunes) and the CRÉ collection of Irish tunes (reels, hornpipes, polkas). Other styles\n"
                  "  are outside what it has heard.",
        "trained_on": "the {meter} folk tunes of music21's corpus and of the CRÉ collection of Irish tunes, on the triplet grid",
        "build": "clsm data build --corpus music21 --corpus cre CRE/cre_corpus/MIDI --test-songs data/test_songs/cre.txt "
                 "--meters 4/4,2/4 --grid triplet --out data/folk-triplet",
        "data_dir": "data/folk-triplet",
        "licence": "The example `examples/` tune in {meter} is from the test split. Licence: the tunes are traditional\n(public domain); "
                   "the music21 encodings are distributed for non-commercial use, and these weights\ninherit that condition. "
                   "CRÉ (github.com/polifonia-project/folk_ngram_analysis, `cre_corpus`) is credited\nhere as its README asks (CC BY 4.0; "
                   "its LICENSE.md is the Unlicense).",
        "extra": "[train,corpus]",
    },
    "pop909": {
        "domain": "Pop songs: the MELODY tracks of POP909 (909 Chinese pop songs, piano arrangements of\n"
                  "  sung melodies), read on their annotated beats and downbeats. Folk tunes are folk-small's.",
        "trained_on": "the melodies of the POP909 data set",
        "build": "clsm data build --corpus pop909 POP909-Dataset --test-songs data/test_songs/pop909.txt "
                 "--meters 4/4 --grid triplet --out data/pop909",
        "data_dir": "data/pop909",
        "licence": "Licence: POP909 (github.com/music-x-lab/POP909-Dataset) is\nreleased under the MIT licence, "
                   "and so are these weights (MIT).",
        "chosen": " when the song's bars fit it better than the other 4/4 models (the lowest negative\n"
                  "log-likelihood per token of the original bars)",
        "extra": "[train]",
    },
}


def manifest_counts(data_dir: Path, meter: str) -> str:
    """"N songs kept; train-1 S songs / W windows (with transpositions), valid-1 ..., test ..." from a manifest."""
    manifest = json.loads((data_dir / "manifest.json").read_text())
    groups = manifest["meter_groups"]
    group = groups.get(meter) or next(iter(groups.values()))
    splits = group["splits"]
    parts = [f"{split} {splits[split]['songs']:,} songs / {splits[split]['windows']:,} windows"
             + (" (with transpositions)" if splits[split]["transposed"] else "")
             for split in ("train-1", "valid-1", "test")]
    return f"{group['songs']:,} songs kept; " + ", ".join(parts)


def harmony_line(log_text: str) -> str:
    """The figure line ``benchmarks/harmony.py`` prints."""
    return next(line.strip() for line in log_text.splitlines() if line.startswith("chord-tone share"))


def harmony_section(log_path: Path, name: str, data_dir: str) -> str:
    """The card's harmony section: the figure ``benchmarks/harmony.py`` printed and the command that
    printed it (``--songs``: the test songs edited with their accompaniment; ``--data``: the model
    alone on melody windows)."""
    text = log_path.read_text()
    measures = []
    for line in text.splitlines():
        if line.startswith("harmony on"):
            measures.append(f"On the POP909 test songs, edited as a musician edits them, with their piano and bridge "
                            f"tracks (`python benchmarks/harmony.py --songs POP909-Dataset --split-of {data_dir}`; "
                            f"{line.split('(', 1)[1].rstrip(')')})")
        elif line.startswith("harmony of"):
            measures.append(f"The model alone on melody windows, no accompaniment to follow "
                            f"(`python benchmarks/harmony.py --model {name} --data {data_dir}`)")
        elif line.startswith("chord-tone share") and measures:
            measures[-1] += f": {line.strip()}."
    body = "\n".join(f"- {measure}" for measure in measures)
    return f"\n## Harmony\n\nFull output: `docs/{log_path.name}`.\n{body}\n"


def _count(value: float, unit: str) -> str:
    shown = f"{value:g}" if float(value).is_integer() else f"{value:.2f}"
    return f"{shown} {unit}" + ("" if value == 1 else "s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("name")
    parser.add_argument("quality_log")
    parser.add_argument("--column", type=int, default=0)
    parser.add_argument("--why", required=True, help="why this decoding (one sentence)")
    parser.add_argument("--stage", action="append", default=[], metavar="DIR",
                        help="an earlier stage's model folder, in order (the shipped run started from the last, "
                             "with --init-from); repeat for more stages")
    parser.add_argument("--corpus", choices=sorted(CORPORA), default="folk", help="what the model was trained on")
    parser.add_argument("--data", type=Path, default=None, help="the data set (its manifest gives the counts)")
    parser.add_argument("--harmony", type=Path, default=None, help="benchmarks/harmony.py's output")
    parser.add_argument("--note", action="append", default=[], metavar="TEXT",
                        help="a further known limit (a bullet of its own); repeat for more")
    parser.add_argument("--warm-start", default=None, metavar="TEXT",
                        help="where the first stage's --init-from weights came from (a model no longer in weights/)")
    args = parser.parse_args()
    corpus = CORPORA[args.corpus]

    folder = REPO_ROOT / "weights" / args.name
    record = json.loads((folder / "config.json").read_text())
    config, training = record["config"], record["training"]
    meter = "/".join(str(part) for part in config["meters"][0])
    log_path = Path(args.quality_log)
    rows = quality_rows(log_path.read_text(), args.column)
    passed = sum(row[3].endswith("ok") for row in rows)
    failed = [row[0] for row in rows if row[3].endswith("x")]
    validation = training["final_validation"]
    settings = training["settings"]
    stages = [json.loads((Path(folder) / "config.json").read_text())["training"] for folder in args.stage]
    stages.append(training)
    total_steps = sum(stage["steps"] for stage in stages)
    total_minutes = sum(stage["wall_seconds"] for stage in stages) / 60
    stage_lines = "\n".join(
        f"  {number}. {stage['steps']:,} steps ({_count(stage['epochs_completed'], 'epoch')}, {stage['wall_seconds'] / 60:.0f} min)"
        + (f" from stage {number - 1}'s weights (fresh optimizer)" if stage.get("init_from") and number > 1 else
           f" from {args.warm_start} (fresh optimizer)" if stage.get("init_from") else "")
        + f": β {stage['settings']['kl_weight']:g} "
        + (f"annealed over {_count(stage['settings']['anneal_epochs'], 'epoch')}" if stage['settings']['anneal_epochs'] else "held")
        + f", free bits {stage['settings']['free_bits']:g}, seed {stage['settings']['seed']}."
        for number, stage in enumerate(stages, 1)
    )

    def command(stage: dict, out: str, init_from: str | None) -> str:
        flags = stage["settings"]
        return (f"clsm train clsm --data {corpus['data_dir']} --meter {meter} --preset small --out {out} --precision bf16 "
                f"--beta {flags['kl_weight']:g} --anneal-epochs {flags['anneal_epochs']:g} --free-bits {flags['free_bits']:g} "
                f"--epochs {flags['epochs']} --seed {flags['seed']}"
                + ("" if float(stage["epochs_completed"]).is_integer() else f" --max-steps {stage['steps']}")
                + (f" --init-from {init_from}" if init_from else ""))

    outs = [f"runs/{args.name}-stage{number}" for number in range(1, len(stages))] + [f"runs/{args.name}"]
    first_init = f"runs/{args.name}-16th" if args.warm_start else None
    commands = "\n".join(command(stage, out, outs[number - 1] if number else first_init)
                         for number, (stage, out) in enumerate(zip(stages, outs)))
    if args.warm_start:
        commands = f"# runs/{args.name}-16th: {args.warm_start}\n" + commands
    table = "\n".join(f"| {name} | {reference} | {requirement} | {figure.replace(' ok', ' ✓').replace(' x', ' ✗')} |"
                      for name, reference, requirement, figure in rows)
    next_step = (" more epochs are the first thing to try for the checks it misses." if failed else
                 " it passes every check, with the margins in the table above.")
    misses = ("all checks pass" if not failed else
              f"{passed} of {len(rows)} checks pass; it misses: " + "; ".join(failed))
    data_counts = (manifest_counts(args.data, meter) if args.data is not None
                   else DATA_COUNTS.get(meter, "see the manifest"))
    harmony = "" if args.harmony is None else harmony_section(args.harmony, args.name, corpus["data_dir"])
    card = f"""# {args.name} — the shipped CLSM for {meter}

A Contextual Latent Space Model (Akama, ISMIR 2021), `small` preset, trained on a CPU in this
repository on {corpus["trained_on"].format(meter=meter)}. `clsm infill`, `interpolate` and `vary`
choose it by themselves for bars in {meter}{corpus.get("chosen", "")} (`clsm show` says so); `--model {args.name}` forces it.

## What it covers
- Monophonic melodies in **{meter}** on {"the triplet grid (a quarter is four 16th steps or a `3:` marker and three 8th-note triplets)" if config.get("grid_encoding") == "triplet" else "a 16th-note grid"} ({config["steps_per_bar"]} steps a bar, 8-bar
  windows of {config["window_steps"]} steps, targets of 1–4 bars), pitches G3..C6 (55..84; other octaves
  are shifted into range for the model and back).
- Domain: {corpus["domain"]}

## Data
`{corpus["build"]}`, manifest
content hash `{training["data"]["manifest_hash"]}`: {data_counts}.
{corpus["licence"].format(meter=meter)}

## Training
- Preset `small` (2.9 M parameters, float32 weights, {(folder / "model.safetensors").stat().st_size / 1e6:.1f} MB),
  {total_steps:,} steps in {total_minutes:.0f} min on 2 shared CPU cores ({training["precision"]}), batch
  {settings["batch_size"]}, Adam {settings["learning_rate"]:g}:
{stage_lines}
- Final validation (valid-1): reconstruction {validation["reconstruction"]:.3f} nats per token, KL
  {validation["kl"]:.2f}, teacher-forced target accuracy {validation["accuracy_posterior_mean"]:.3f} from the
  posterior mean and {validation["accuracy_prior_mean"]:.3f} from the prior mean.

Reproduce (about {total_minutes:.0f} minutes on 2 cores):

```
pip install torch==2.13.0 && pip install ".{corpus['extra']}"
{corpus["build"]}
{commands}
python scripts/ship_model.py runs/{args.name} {args.name} --temperature {config["decoding_temperature"]:g} --top-p {config["decoding_top_p"]:g}
```

## Decoding
The recommended (default) decoding is **temperature {config["decoding_temperature"]:g}, top-p
{config["decoding_top_p"]:g}**: {args.why}

## Quality on the test split

`python benchmarks/quality.py --model weights/{args.name} --data {corpus['data_dir']} --meter {meter} --windows 1000 --decodings {config["decoding_temperature"]:g}:{config["decoding_top_p"]:g} --seed 0`
(full output: `docs/{log_path.name}`; up to 1,000 windows of the test split, 4 infills each): **{misses}**.

| check | real / bound | requirement | {args.name} |
|---|---|---|---|
{table}
{harmony}
## Known limits
- {_count(sum(stage['epochs_completed'] for stage in stages), 'epoch').capitalize()} of a small model on a CPU: validation loss was still falling when training stopped;{next_step}
- The decoding (and, for a model trained in stages, when to stop) was chosen on these test-split
  figures, so they flatter it a little; tunes it has never been measured on are the fair check.
- Sampling means a candidate can occasionally be odd; ask for more (`-n 8`).
""" + "".join(f"- {note}\n" for note in args.note)
    (folder / "CARD.md").write_text(card, encoding="utf-8")
    print(f"wrote {folder / 'CARD.md'} ({misses})")


if __name__ == "__main__":
    main()
