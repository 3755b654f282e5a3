"""``clsm explore`` as a command: what it refuses before the screen opens, what it continues from,
that the other commands do not load its libraries, and a real run in a pseudo-terminal."""

import fcntl
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from clsm_cli.cli.explore import INSTALL_EXPLORE, NEEDS_TERMINAL, open_session
from clsm_cli.editing.provenance import parse_provenance
from clsm_cli.music.midi_read import read_text_events
from synthetic_midi.tiny_soundfont import write_tiny_soundfont

REPOSITORY = Path(__file__).resolve().parents[2]
BLOCK_TEXTUAL = """
import importlib.abc, sys
class NoTextual(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "textual" or name.startswith("textual."):
            raise ImportError("textual is not installed here")
sys.meta_path.insert(0, NoTextual())
sys.modules["textual"] = None
import runpy
runpy.run_module("clsm_cli", run_name="__main__")
"""


def test_piped_stdout_is_one_sentence_and_exit_2(run_clsm, song):
    result = run_clsm("explore", song, "--bars", "3-4")
    assert result.exit_code == 2 and NEEDS_TERMINAL in result.stderr.replace("\n", " ")


def test_plain_explore_continues_from_the_latest_run(run_clsm, tiny_model_dir, song, tmp_path):
    out = tmp_path / "takes"
    run_clsm("infill", song, "--bars", "5-6", "-n", "2", "--seed", "9", "--model", tiny_model_dir, "--out", out)
    session = open_session(None, None, 4, None, None, None, str(tiny_model_dir), None, "top", out, None, "auto", "auto")
    assert session.prepared.path == song and str(session.options.bars) == "bars 5-6" and session.options.seed == 9


def test_plain_explore_with_nothing_to_continue_from_says_what_to_give(tmp_path, tiny_model_dir):
    from clsm_cli.errors import UsageError

    with pytest.raises(UsageError, match="give a MIDI file and --bars"):
        open_session(None, None, 4, None, None, None, str(tiny_model_dir), None, "top", tmp_path, None, "auto", "auto")


@pytest.mark.slow
def test_without_the_extra_it_says_how_to_install_and_exits_4(song):
    result = subprocess.run([sys.executable, "-c", BLOCK_TEXTUAL, "explore", str(song), "--bars", "3-4"],
                            capture_output=True, text=True, env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200"})
    assert result.returncode == 4 and INSTALL_EXPLORE in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.slow
@pytest.mark.parametrize("command", [["show", "{song}", "--bars", "3-4"],
                                     ["infill", "{song}", "--bars", "3-4", "-n", "1", "--no-preview", "--out", "{out}"]])
def test_show_and_infill_do_not_load_the_explore_or_audio_libraries(song, tmp_path, command):
    code = ("import sys, runpy\n"
            "sys.argv = ['clsm'] + sys.argv[1:]\n"
            "try:\n    runpy.run_module('clsm_cli', run_name='__main__')\nexcept SystemExit as done:\n    code = done.code\n"
            "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'miniaudio', 'rtmidi')"
            " or m.startswith(('clsm_cli.explore', 'clsm_cli.music.soundfont', 'clsm_cli.music.synth')))\n"
            "print('LOADED', loaded)\nsys.exit(code or 0)\n")
    args = [part.format(song=song, out=tmp_path / "out") for part in command]
    result = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                            env={**os.environ, "NO_COLOR": "1"})
    assert result.returncode == 0, result.stderr
    assert "LOADED []" in result.stdout


def read_until(fd: int, wanted: bytes, seconds: float) -> bytes:
    """Output of the pseudo-terminal until ``wanted`` appears (or the time is up)."""
    seen, deadline = b"", time.monotonic() + seconds
    while wanted not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                seen += os.read(fd, 65536)
            except OSError:
                break
    return seen


@pytest.mark.slow
def test_in_a_real_terminal_move_keep_and_quit_writes_the_file(song, tiny_model_dir, tmp_path):
    """The issue's check: clsm explore FILE --bars 3-4, then →, k, q writes one candidate file."""
    out = tmp_path / "out"
    pid, fd = pty.fork()
    if pid == 0:  # the child: clsm explore on the pseudo-terminal
        os.environ.update(TERM="xterm-256color", CLSM_SOUNDFONT=str(write_tiny_soundfont(tmp_path / "tiny.sf2")))
        os.chdir(REPOSITORY)
        os.execv(sys.executable, [sys.executable, "-m", "clsm_cli", "explore", str(song), "--bars", "3-4", "--seed", "5",
                                  "--model", str(tiny_model_dir), "--out", str(out)])
    try:
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 110, 0, 0))
        screen = read_until(fd, b"candidate 8", 60)
        assert b"candidate 8" in screen, screen[-2000:]
        os.write(fd, b"\x1b[C")  # →
        read_until(fd, b"candidate 2", 10)
        time.sleep(0.5)
        os.write(fd, b"k")
        deadline = time.monotonic() + 20
        while not list(out.glob("*.mid")) and time.monotonic() < deadline:
            read_until(fd, b"kept", 0.5)
        os.write(fd, b"q")
        tail = read_until(fd, b"wrote", 20)
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0, tail[-2000:]
    assert [path.name for path in out.glob("*.mid")] == ["song.explore-bars3-4-s5-2.mid"]
    assert b"wrote" in tail
    (record,) = parse_provenance(read_text_events(out / "song.explore-bars3-4-s5-2.mid"))
    assert record["k"] == 2 and record["draw_index"] >= 1 and record["score"]["total"] <= 0
