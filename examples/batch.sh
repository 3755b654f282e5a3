#!/usr/bin/env bash
# Batch-edit a folder of MIDI files with one clsm call, and list what came out.
#
#   examples/batch.sh [FOLDER] [BARS] [OUT] [-- extra clsm options]
#   examples/batch.sh examples 3-4 infills -- -n 2 --seed 7
#
# One `clsm infill --json` call edits every .mid file in FOLDER (the model loads once). stdout
# carries one JSON object per input file; it is read with Python's json module (no jq needed).
# Messages and the summary table stay on stderr. A file clsm cannot use (corrupt, too short, in a
# meter the model does not cover) is reported and the others still get their infills; the script
# exits with clsm's code, so it is 0 only when every file was edited.
set -uo pipefail

folder="${1:-examples}"
bars="${2:-3-4}"
out="${3:-infills}"
shift $(( $# < 3 ? $# : 3 ))
[ "${1:-}" = "--" ] && shift

shopt -s nullglob
files=("$folder"/*.mid)
if [ ${#files[@]} -eq 0 ]; then
    echo "no .mid files in $folder" >&2
    exit 3
fi

python="$(command -v python3 || command -v python)"
report="$(mktemp)"
trap 'rm -f "$report"' EXIT

clsm infill "${files[@]}" --bars "$bars" --out "$out" --json --no-preview "$@" >"$report"
status=$?

"$python" - "$report" <<'PY'
import json
import sys

with open(sys.argv[1], encoding="utf-8") as report:
    for line in report:
        result = json.loads(line)
        if result["ok"]:
            print(f"{result['input']}: {len(result['outputs'])} infills of bars "
                  f"{result['bars'][0]}-{result['bars'][1]} (seed {result['seed']}, model {result['model']})")
            for output in result["outputs"]:
                print(f"    {output['path']}")
            for warning in result["warnings"]:
                print(f"    note: {warning}")
        else:
            print(f"{result['input']}: not edited (exit {result['exit_code']}): {result['error']}")
PY

exit $status
