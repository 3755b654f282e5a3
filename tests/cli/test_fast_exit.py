"""``python -m clsm_cli`` and the ``clsm`` script end a quick command with ``os._exit`` (app.run):
the files, the exit code and everything printed must be as after a normal exit."""

from __future__ import annotations

import subprocess
import sys

from clsm_cli.music.midi_read import read_midi

RUN = "import sys\nsys.argv = ['clsm', *sys.argv[1:]]\nfrom clsm_cli.cli.app import run\nrun()\n"


def _clsm(*args, prefix: str = ""):
    return subprocess.run([sys.executable, "-c", prefix + RUN, *map(str, args)], capture_output=True, text=True)


def test_an_edit_ends_with_its_files_written_and_its_report_printed(song, tiny_model_dir, tmp_path):
    result = _clsm("infill", song, "--bars", "3-4", "-n", "2", "--seed", "1", "--model", tiny_model_dir,
                   "--out", tmp_path / "out", "--no-preview")
    assert result.returncode == 0, result.stderr
    written = sorted((tmp_path / "out").glob("*.mid"))
    assert len(written) == 2 and all(read_midi(path).tracks for path in written)
    assert "1 of 1 file edited" in result.stderr  # the summary, its last line, flushed before the exit
    assert not list((tmp_path / "out").glob(".*"))  # no temporary left behind


def test_a_failure_keeps_its_exit_code_and_sentence(tmp_path):
    result = _clsm("infill", tmp_path / "missing.mid", "--bars", "3-4")
    assert result.returncode == 3 and "missing.mid does not exist" in result.stderr


def test_json_lines_are_all_flushed(song, tiny_model_dir, tmp_path):
    other = tmp_path / "other.mid"
    other.write_bytes(song.read_bytes())
    result = _clsm("infill", song, other, "--bars", "3-4", "-n", "1", "--model", tiny_model_dir,
                   "--out", tmp_path / "out", "--json", "--force")
    assert result.returncode == 0, result.stderr
    assert [line[:1] for line in result.stdout.splitlines()] == ["{", "{"]


def test_an_exit_handler_makes_it_leave_as_usual(tmp_path):
    handler = "import atexit\natexit.register(lambda: print('handler ran'))\n"
    result = _clsm("infill", tmp_path / "missing.mid", "--bars", "3-4", prefix=handler)
    assert result.returncode == 3 and "handler ran" in result.stdout


def test_slow_commands_leave_as_usual(monkeypatch):
    from clsm_cli.cli import app

    monkeypatch.setattr(sys, "argv", ["clsm", "train", "--help"])
    assert not app._may_exit_at_once()
    monkeypatch.setattr(sys, "argv", ["clsm", "--no-color", "infill", "x.mid"])
    assert app._may_exit_at_once() == (app.atexit._ncallbacks() == 0)


def test_a_profiler_still_writes_its_report(tmp_path):
    stats = tmp_path / "run.pstats"
    result = subprocess.run([sys.executable, "-m", "cProfile", "-o", str(stats), "-m", "clsm_cli", "infill",
                             str(tmp_path / "missing.mid"), "--bars", "3-4"], capture_output=True, text=True)
    assert "missing.mid does not exist" in result.stderr and stats.is_file()  # (cProfile itself exits 0)


def test_a_program_that_runs_clsm_and_goes_on_goes_on(tmp_path):
    code = ("import runpy, sys\nsys.argv = ['clsm', 'infill', sys.argv[1], '--bars', '3-4']\n"
            "try:\n    runpy.run_module('clsm_cli', run_name='__main__')\nexcept SystemExit as done:\n"
            "    print('went on after exit', done.code)\n")
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path / "missing.mid")], capture_output=True, text=True)
    assert "went on after exit 3" in result.stdout


def test_python_m_clsm_cli_is_the_program(tmp_path):
    result = subprocess.run([sys.executable, "-m", "clsm_cli", "infill", str(tmp_path / "missing.mid"), "--bars", "3-4"],
                            capture_output=True, text=True)
    assert result.returncode == 3 and "missing.mid does not exist" in result.stderr


def test_which_programs_are_clsm(monkeypatch):
    import types
    from importlib.machinery import ModuleSpec

    from clsm_cli.cli import app

    python_m = types.ModuleType("__main__")
    python_m.__spec__ = ModuleSpec("clsm_cli.__main__", None)
    script = types.ModuleType("__main__")
    script.run = app.run
    other = types.ModuleType("__main__")
    for program, expected in ((python_m, True), (script, True), (other, False)):
        monkeypatch.setitem(sys.modules, "__main__", program)
        assert app._is_the_program() is expected


def test_garbage_collection_resumes_once_the_modules_are_in():
    import gc

    from clsm_cli.cli.console import resume_garbage_collection

    frozen = gc.get_freeze_count()
    resume_garbage_collection()  # running (as in-process): nothing to resume, nothing frozen
    assert gc.isenabled() and gc.get_freeze_count() == frozen
    gc.disable()  # as app.run leaves it for a quick command
    try:
        resume_garbage_collection()
        assert gc.isenabled() and gc.get_freeze_count() > frozen
    finally:
        gc.enable()
        gc.unfreeze()


def test_a_quick_command_starts_with_the_collector_paused(monkeypatch):
    import gc

    import pytest

    from clsm_cli.cli import app

    seen = []
    monkeypatch.setattr(app, "main", lambda: seen.append(gc.isenabled()))
    monkeypatch.setattr(app, "_may_exit_at_once", lambda: False)
    try:
        for command in ("infill", "train"):
            monkeypatch.setattr(sys, "argv", ["clsm", command])
            with pytest.raises(SystemExit):
                app.run()
    finally:
        gc.enable()
    assert seen == [False, True]
