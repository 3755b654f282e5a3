#!/usr/bin/env bash
# The training data sets of the next models (issues 23 item 4 and 24 item 1), built from the copies
# in ../shared/data. Run from the repository root, in the clsm virtual environment (music21 installed:
# pip install -e ".[corpus]"). Usage: scripts/build_training_data.sh [WORK_DIR] [OUT_DIR]
#   WORK_DIR  where the corpora are unpacked (default /tmp/clsm-corpora; never inside the repository)
#   OUT_DIR   where the data sets go (default data/)
#
# It builds:
#   OUT_DIR/folk-4-4   music21 folk + CRÉ, 4/4 and 2/2 (folk-small)      CRÉ test titles held out
#   OUT_DIR/folk-2-4   music21 folk + CRÉ, 2/4 (folk-small-2-4)          CRÉ test titles held out
#   OUT_DIR/pop909     POP909 MELODY tracks, 4/4 (pop-small)             POP909 test songs held out
# Songs that are one tune in both folk corpora are kept once (the melody digest). Each build prints
# its parameters, a table per meter group and "processed N files (skipped X%)".
set -euo pipefail
WORK=${1:-/tmp/clsm-corpora}
OUT=${2:-data}
SHARED=${SHARED:-../shared/data}
WORKERS=${WORKERS:-2}
mkdir -p "$WORK" "$OUT"
[ -d "$WORK/cre/cre_corpus/MIDI" ] || tar -xJf "$SHARED/cre.tar.xz" -C "$WORK"
[ -d "$WORK/pop909/POP909" ] || tar -xJf "$SHARED/pop909.tar.xz" -C "$WORK"

clsm data build --corpus music21 --corpus cre "$WORK/cre/cre_corpus/MIDI" \
  --test-songs data/test_songs/cre.txt --meters 4/4 --workers "$WORKERS" --out "$OUT/folk-4-4" --force
clsm data build --corpus music21 --corpus cre "$WORK/cre/cre_corpus/MIDI" \
  --test-songs data/test_songs/cre.txt --meters 2/4 --workers "$WORKERS" --out "$OUT/folk-2-4" --force
clsm data build --corpus pop909 "$WORK/pop909" \
  --test-songs data/test_songs/pop909.txt --meters 4/4 --workers "$WORKERS" --out "$OUT/pop909" --force
