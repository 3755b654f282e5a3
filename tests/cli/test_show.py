"""``clsm show`` through the real Typer app: tables, the roll, highlighting, errors, no torch."""

import random
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from synthetic_midi.midi_factory import SongSpec, TrackSpec, melody_track, random_multitrack_song

ESCAPE = "\x1b"


def scale_melody(num_bars, steps_per_bar=16):
    """Two half-bar-ish notes per bar climbing a C major scale (C4..), then falling."""
    pitches = [60, 62, 64, 65, 67, 69, 71, 72]
    notes = []
    for bar in range(num_bars):
        first = bar * steps_per_bar
        notes.append((first, first + 8, pitches[bar % len(pitches)]))
        notes.append((first + 8, first + 12, pitches[(bar + 2) % len(pitches)]))
        notes.append((first + 12, first + steps_per_bar, pitches[(bar + 4) % len(pitches)]))
    return notes


@pytest.fixture
def band_song(tmp_path):
    """10 bars of 4/4 at 480 ticks per beat: a flute melody, a bass and drums."""
    melody = melody_track(scale_melody(10), channel=0, program=73, name="Lead")
    bass = melody_track([(bar * 16, bar * 16 + 16, 36 + bar % 5) for bar in range(10)], channel=1, program=33,
                        name="Bass")
    drums = melody_track([(step, step + 1, 42) for step in range(0, 160, 4)], channel=9, program=None, name="Kit")
    return SongSpec(tracks=[melody, bass, drums], tempos=[(0, 600_000)]).write(tmp_path / "band.mid")


def roll_lines(stdout):
    """The lines from the roll's title on."""
    lines = stdout.splitlines()
    start = next(index for index, line in enumerate(lines) if line.startswith("melody: track"))
    return lines[start:]


def test_show_prints_summary_tracks_and_a_roll(run_clsm, band_song):
    result = run_clsm("show", band_song)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "band.mid" in out and "4/4" in out and "100 BPM" in out
    assert "bars        10" in out
    lead = next(line for line in out.splitlines() if "Lead" in line and "Flute" in line)
    assert "◀ melody" in lead and "C4–C5" in lead
    assert "Electric Bass (finger)" in out and "Drum kit" in out
    roll = roll_lines(out)
    assert roll[0] == "melody: track 1 (Lead), bars 1-8 of 10"
    assert roll[1].split() == [str(number) for number in range(1, 9)]
    assert any(line.startswith("  C5 │") for line in roll) and any(line.startswith("  C4 │") for line in roll)
    assert "^" not in "\n".join(roll[:3])  # nothing selected, nothing highlighted
    assert result.stderr == ""


def test_bars_are_highlighted_under_their_numbers(run_clsm, band_song):
    result = run_clsm("show", band_song, "--bars", "3-4")
    assert result.exit_code == 0, result.output
    roll = roll_lines(result.stdout)
    header, marks = roll[1], roll[2]
    assert roll[0].endswith("bars 1-8 of 10")
    # 100 columns hold 8 bars at two steps per column: 8 columns per bar, bar lines between.
    assert marks == " " * (header.index("3") + 1) + "^" * 8 + " " + "^" * 8
    assert header.index("4") == header.index("3") + 9


def test_a_selection_late_in_the_song_shows_the_window_around_it(run_clsm, band_song):
    result = run_clsm("show", band_song, "--bars", "9")
    roll = roll_lines(result.stdout)
    assert roll[0].endswith("bars 3-10 of 10")
    assert roll[2] == " " * (roll[1].index("9") + 1) + "^" * 8


def test_long_selections_are_shown_whole(run_clsm, band_song):
    roll = roll_lines(run_clsm("show", band_song, "--bars", "1-10").stdout)
    assert roll[0].endswith("bars 1-10 of 10")


def test_the_roll_wraps_to_fit_a_narrow_terminal(run_clsm, band_song):
    result = run_clsm("show", band_song, "--bars", "3-4", env={"COLUMNS": "40"})
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 40
    headers = [line for line in roll_lines(result.stdout) if line.strip() and line.split()[0] in "12345678"]
    assert len(headers) >= 2  # the bars continue on another system


@pytest.mark.parametrize(
    "env",
    [{}, {"NO_COLOR": "1"}, {"NO_COLOR": "1", "FORCE_COLOR": "1"}, {"TERM": "dumb"}],
    ids=["piped", "no-color-piped", "no-color-terminal", "dumb-terminal"],
)
def test_piped_or_no_color_output_has_no_escape_codes(run_clsm, band_song, env):
    result = run_clsm("show", band_song, "--bars", "3-4", env=env)
    assert result.exit_code == 0, result.output
    assert ESCAPE not in result.stdout
    assert "^" * 8 in result.stdout  # the highlight survives without colour


def test_a_colour_terminal_gets_colour(run_clsm, band_song):
    result = run_clsm("show", band_song, "--bars", "3-4", env={"FORCE_COLOR": "1"})
    assert result.exit_code == 0, result.output
    assert ESCAPE + "[" in result.stdout


def test_track_by_name_and_number(run_clsm, band_song):
    by_name = roll_lines(run_clsm("show", band_song, "--track", "bass").stdout)
    assert by_name[0].startswith("melody: track 2 (Bass)")
    assert any(line.lstrip().startswith("C2 │") for line in by_name)
    by_number = run_clsm("show", band_song, "-t", "2")
    assert roll_lines(by_number.stdout)[0] == by_name[0]


def test_an_unknown_track_shows_the_table_then_one_error_line(run_clsm, band_song):
    result = run_clsm("show", band_song, "--track", "9")
    assert result.exit_code == 2
    assert "Lead" in result.stdout and "◀ melody" not in result.stdout
    assert result.stderr.strip().splitlines() == [
        "error: --track 9 does not exist in band.mid; its tracks are 1 Lead, 2 Bass, 3 Kit"
    ]


def test_missing_time_signature_and_chords_are_warned_about_on_stderr(run_clsm, tmp_path):
    chords = [(bar * 16 + beat * 4, bar * 16 + beat * 4 + 4, root + interval)
              for bar in range(4) for beat, root in enumerate((60, 65, 67, 60)) for interval in (0, 4, 7)]
    path = SongSpec(tracks=[melody_track(chords, name="Piano")], time_signatures=[]).write(tmp_path / "chords.mid")
    result = run_clsm("show", path)
    assert result.exit_code == 0, result.output
    assert "assuming 4/4" in result.stderr
    assert "track 1 plays chords: the roll shows its top line (32 lower notes left out)" in result.stderr
    assert "no time signature in the file" in result.stdout
    rows = [line for line in roll_lines(result.stdout) if "│" in line]
    assert rows[0].startswith("  D5 ") and rows[-1].startswith("  G4 ")  # the top notes: G4, C5, D5


def test_a_three_four_song_gets_twelve_step_bars(run_clsm, tmp_path):
    notes = [(bar * 12, bar * 12 + 12, 67) for bar in range(4)]
    path = SongSpec(tracks=[melody_track(notes)], time_signatures=[(0, 3, 4)]).write(tmp_path / "waltz.mid")
    result = run_clsm("show", path, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "3/4" in result.stdout
    row = next(line for line in roll_lines(result.stdout) if line.startswith("  G4 "))
    assert row == "  G4 " + ("│" + "█" + "━" * 11) * 4 + "│"


def _midi_header(tracks=1):
    return b"MThd" + (6).to_bytes(4, "big") + (1).to_bytes(2, "big") + tracks.to_bytes(2, "big") + (480).to_bytes(2, "big")


BAD_FILES = {
    "empty": b"",
    "text": b"these are not the notes you are looking for\n",
    "header-only": _midi_header(),
    "truncated": SongSpec(tracks=[melody_track(scale_melody(2))]).to_bytes()[:40],
    "no-notes": SongSpec(tracks=[TrackSpec(notes=[], name="Silence")]).to_bytes(),
}


@pytest.mark.parametrize("kind", sorted(BAD_FILES))
def test_bad_files_exit_3_with_one_line_and_no_traceback(run_clsm, tmp_path, kind):
    path = tmp_path / f"{kind}.mid"
    path.write_bytes(BAD_FILES[kind])
    result = run_clsm("show", path)
    assert result.exit_code == 3, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and f"{kind}.mid" in lines[0]
    assert "Traceback" not in result.output
    assert result.stdout == ""


def test_a_missing_file_and_bars_past_the_end_exit_3(run_clsm, band_song, tmp_path):
    missing = run_clsm("show", tmp_path / "nowhere.mid")
    assert missing.exit_code == 3 and "does not exist" in missing.stderr
    late = run_clsm("show", band_song, "--bars", "11-12")
    assert late.exit_code == 3
    assert late.stderr.strip() == "error: bars 11-12 are past the end of band.mid (10 bars)"


@pytest.mark.parametrize("bars", ["4-3", "0", "three", "3-"])
def test_reversed_or_malformed_bars_exit_2_before_reading_the_file(run_clsm, tmp_path, bars):
    result = run_clsm("show", tmp_path / "not-even-there.mid", "--bars", bars)
    assert result.exit_code == 2, result.output
    assert result.stderr.strip().startswith("error: --bars must look like 3-4")
    assert "Traceback" not in result.output


def test_help_has_examples(run_clsm):
    result = run_clsm("show", "--help")
    assert result.exit_code == 0
    assert "Examples" in result.stdout and "--bars 3-4" in result.stdout and "--track" in result.stdout


def test_show_never_imports_torch(band_song):
    code = textwrap.dedent(
        f"""
        import sys
        from typer.testing import CliRunner
        from clsm_cli.cli.app import app
        result = CliRunner().invoke(app, ["show", {str(band_song)!r}, "--bars", "3-4"])
        assert result.exit_code == 0, result.output
        assert "melody: track 1" in result.stdout
        loaded = sorted(name for name in sys.modules if name == "torch" or name.startswith("torch."))
        print("torch modules:", loaded)
        assert not loaded
        """
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "torch modules: []" in completed.stdout


EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize("name", sorted(path.name for path in EXAMPLES_DIR.glob("*.mid")))
def test_every_example_shows_with_its_bars_highlighted(run_clsm, name):
    result = run_clsm("show", EXAMPLES_DIR / name, "--bars", "3-4")
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    roll = roll_lines(result.stdout)
    assert roll[0] == "melody: track 1 (Melody), bars 1-8 of " + result.stdout.split("bars        ")[1].split()[0]
    assert roll[2].strip() and set(roll[2].strip()) <= {"^", " "}


def test_examples_are_test_split_tunes_their_script_reproduces():
    completed = subprocess.run(
        [sys.executable, str(EXAMPLES_DIR / "make_examples.py"), "--check"], capture_output=True, text=True, timeout=300
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert completed.stdout.count("(test split)") == len(list(EXAMPLES_DIR.glob("*.mid"))) >= 3


def test_mutated_files_exit_0_or_3_without_a_traceback(run_clsm, tmp_path):
    """A seeded fuzz of show (benchmarks can run thousands; 60 here keep the suite fast)."""
    rng = random.Random(2021)
    seeds = [random_multitrack_song(seed, num_bars=12).to_bytes() for seed in range(3)]
    seeds.append((EXAMPLES_DIR / "hoert-ihr-herrn.mid").read_bytes())
    exit_codes = set()
    for index in range(60):
        data = bytearray(rng.choice(seeds))
        mutation = index % 4
        if mutation == 0:  # one byte: often still a readable file, with odd notes or meters
            data[rng.randrange(14, len(data))] = rng.randrange(256)
        elif mutation == 1:
            data = data[: rng.randrange(len(data))]
        elif mutation == 2:
            position = rng.randrange(len(data))
            data[position:position] = b"MTrk" + rng.randrange(2**32).to_bytes(4, "big") + bytes(rng.randrange(256) for _ in range(9))
        else:
            position = rng.randrange(len(data) - 4)
            data[position : position + 4] = b"\x7f\xff\xff\xff"
        path = tmp_path / f"mutant{index}.mid"
        path.write_bytes(bytes(data))
        result = run_clsm("show", path, "--bars", f"{rng.randint(1, 4)}-{rng.randint(4, 6)}")
        assert result.exit_code in (0, 3), (index, result.output)
        assert isinstance(result.exception, (SystemExit, type(None))), (index, repr(result.exception))
        assert "Traceback" not in result.output
        exit_codes.add(result.exit_code)
    assert exit_codes == {0, 3}  # the mutations both break files and leave some readable


def test_show_prints_the_key_with_its_source_and_a_melody_map(run_clsm, band_song, tmp_path):
    out = run_clsm("show", band_song).stdout
    assert "key: C major (estimated)" in out.splitlines()
    assert "melody in 10 of 10 bars: 1 ██████████ 10" in out.splitlines()
    examples = Path(__file__).resolve().parents[2] / "examples"
    out = run_clsm("show", str(examples / "hoert-ihr-herrn.mid"), "--bars", "3-4").stdout
    assert "key in bars 1-8: Eb major (key signature)" in out.splitlines()
    late = SongSpec(tracks=[melody_track([(s + 64, s + 68, p) for s, _, p in scale_melody(4)], name="Lead")]).write(
        tmp_path / "late.mid")
    assert "melody in 4 of 8 bars: 1 ····████ 8" in run_clsm("show", late).stdout.splitlines()
