"""Check that the README's first command writes the same notes with either inference engine.

Runs ``clsm infill examples/hoert-ihr-herrn.mid --bars 3-4 --seed 7`` twice, each in a fresh empty
folder: once with the numpy engine (by default the ``clsm`` of an install without torch, given with
``--numpy-clsm``), once with ``--engine torch`` (by default this interpreter's clsm, which must have
torch). Then it compares the files the two runs wrote, note for note: every note's track, channel,
pitch, velocity, start and end tick. It prints one line per file and exits 1 on any difference.

Usage::

    python3 -m venv /tmp/notorch && /tmp/notorch/bin/pip install .
    python scripts/check_engines_agree.py --numpy-clsm /tmp/notorch/bin/clsm

Without ``--numpy-clsm`` both runs use this interpreter (numpy engine, then ``--engine torch``).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import mido

REPOSITORY = Path(__file__).resolve().parent.parent
EXAMPLE = REPOSITORY / "examples" / "hoert-ihr-herrn.mid"
FIRST_COMMAND = ["infill", str(EXAMPLE), "--bars", "3-4", "--seed", "7"]

Note = tuple[int, int, int, int, int, int]  # track, channel, pitch, velocity, start tick, end tick


def notes_of(path: Path) -> list[Note]:
    """Every note of a MIDI file, paired on/off per track, channel and pitch, sorted."""
    notes: list[Note] = []
    for track_number, track in enumerate(mido.MidiFile(path).tracks):
        ticks, sounding = 0, {}
        for message in track:
            ticks += message.time
            if message.type not in ("note_on", "note_off"):
                continue
            key = (message.channel, message.note)
            if message.type == "note_on" and message.velocity > 0:
                sounding.setdefault(key, []).append((ticks, message.velocity))
            elif sounding.get(key):
                start, velocity = sounding[key].pop(0)
                notes.append((track_number, message.channel, message.note, velocity, start, ticks))
    return sorted(notes)


def run_first_command(clsm: list[str], extra: list[str], folder: Path) -> dict[str, Path]:
    """Run the command in ``folder``; the MIDI files it wrote by name."""
    result = subprocess.run([*clsm, *FIRST_COMMAND, *extra], cwd=folder, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join([*clsm, *FIRST_COMMAND, *extra])} failed ({result.returncode}):\n{result.stderr}")
    return {path.name: path for path in sorted(folder.glob("*.mid"))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--numpy-clsm", help="the clsm executable of an install without torch (default: this interpreter's)")
    parser.add_argument("--torch-clsm", help="the clsm executable of an install with torch (default: this interpreter's)")
    args = parser.parse_args()
    here = [sys.executable, "-m", "clsm_cli"]
    numpy_clsm = [args.numpy_clsm] if args.numpy_clsm else here
    torch_clsm = [args.torch_clsm] if args.torch_clsm else here

    with tempfile.TemporaryDirectory() as numpy_folder, tempfile.TemporaryDirectory() as torch_folder:
        numpy_files = run_first_command(numpy_clsm, [], Path(numpy_folder))
        torch_files = run_first_command(torch_clsm, ["--engine", "torch"], Path(torch_folder))
        print(f"numpy engine: {' '.join([*numpy_clsm, *FIRST_COMMAND])}")
        print(f"torch engine: {' '.join([*torch_clsm, *FIRST_COMMAND, '--engine', 'torch'])}")
        same = numpy_files.keys() == torch_files.keys() and len(numpy_files) == 4
        if not same:
            print(f"different files: numpy wrote {sorted(numpy_files)}, torch wrote {sorted(torch_files)}")
        for name in sorted(numpy_files.keys() & torch_files.keys()):
            numpy_notes, torch_notes = notes_of(numpy_files[name]), notes_of(torch_files[name])
            identical_bytes = numpy_files[name].read_bytes() == torch_files[name].read_bytes()
            if numpy_notes == torch_notes:
                print(f"{name}: same {len(numpy_notes)} notes" + (", identical bytes" if identical_bytes else ""))
            else:
                differing = len(set(numpy_notes) ^ set(torch_notes))
                print(f"{name}: DIFFERENT notes ({len(numpy_notes)} vs {len(torch_notes)}, {differing} not in both)")
                same = False
    print("the engines agree note for note" if same else "the engines DISAGREE")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
