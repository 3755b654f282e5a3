"""Synthetic MIDI files shared by the tests and the benchmarks (neither imports the other).

* ``midi_factory.py``: songs built in code (tracks, meters, tempos, jitter; the editing tests' songs);
* ``lmd_like.py``: multi-track songs like the Lakh MIDI dataset's;
* ``mutations.py``: byte-level mutations of MIDI files, for fuzzing the readers and the writer.

Not part of the installed package: both users run from the repository root.
"""
