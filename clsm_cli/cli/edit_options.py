"""The command-line options ``infill``, ``interpolate`` and ``vary`` share (Typer parameter objects).

One place for each option's flag, default and help text; ``cli/edit.py`` builds the commands from them.
"""

from pathlib import Path

import typer

FILES = typer.Argument(..., help="MIDI files to edit (.mid); many files load the model once.", show_default=False)
BARS = typer.Option(..., "--bars", "-b", metavar="A-B", help="Bars to change, e.g. 3-4 or 5 (numbered from 1, as clsm show prints them).", show_default=False)
NUM = typer.Option(4, "--num", "-n", min=1, help="How many versions to write per file.")
SEED = typer.Option(None, "--seed", "-s", min=0, help="Random seed; the same seed gives the same files, and file k is the k-th best of the same pool for any -n up to the pool size. Default: drawn and reported.")
TEMPERATURE = typer.Option(None, "--temperature", min=0.0, help="Sampling temperature. 0 is argmax, the paper's evaluation protocol (reproducible model comparisons; melodies often repeat one pitch). Default: what the model recommends.")
TOP_P = typer.Option(None, "--top-p", min=0.0, max=1.0, help="Nucleus sampling: keep the most likely tokens up to this mass. Default: the model's.")
MODEL = typer.Option(None, "--model", "-m", metavar="NAME|DIR", help="A model from clsm models, or a model directory. Default: of the installed models that know the target bars' meter, the one the song fits best (clsm show prints the figures).")
TRACK = typer.Option(None, "--track", "-t", metavar="TRACK", help="Melody track: its number in clsm show's table, or its name. Default: chosen automatically.")
VOICE = typer.Option("top", "--voice", metavar="top|all", help="What of the melody track the bars lose: its top voice (the notes under it stay), or all its notes.")
OUT = typer.Option(Path("."), "--out", "-o", metavar="DIR", help="Folder for the outputs (created if missing).")
FORCE = typer.Option(False, "--force", help="Overwrite outputs that already exist.")
JSON = typer.Option(False, "--json", help="Print one JSON object per input file on stdout (messages stay on stderr).")
PREVIEW = typer.Option(None, "--preview/--no-preview", help="Piano-roll previews on stdout. Default: only when stdout is a terminal.", show_default=False)
WAV = typer.Option(False, "--wav", help="Also render each output to WAV, in-process: with a General MIDI SoundFont (--soundfont, CLSM_SOUNDFONT, else the system's), else a built-in synth.")
SOUNDFONT = typer.Option(None, "--soundfont", metavar="FILE.sf2", help="The SoundFont --wav renders with (default: CLSM_SOUNDFONT, then the system's General MIDI SoundFont).", show_default=False)
MUSICXML = typer.Option(False, "--musicxml", help="Also write each output's edited track as MusicXML (.musicxml, for MuseScore or any score editor), the new bars marked.")
ABC = typer.Option(False, "--abc", help="Also write each output's melody (its top line) as ABC notation (.abc), the new bars marked.")
COMBINED = typer.Option(False, "--combined", help="Also write one audition file: the original, then each version in turn with a bar of context either side and the other tracks under it; a named track, a channel and a marker per version.")
DEVICE = typer.Option("auto", "--device", metavar="auto|cpu|cuda", help="Where the model runs; cuda needs the torch engine.")
PHASE = typer.Option(None, "--phase", metavar="TICKS", help="Put a bar line at this tick (negative: before the file; bar 1 is the bar holding tick 0); new notes are written at the same offset. Default: the grid phase detected when the file is read, where it is confident (clsm show prints it). 0: from tick 0.", show_default=False)
METER = typer.Option(None, "--meter", metavar="N/D", help="Count bars in this meter from the start instead of the file's time signatures (a 4/4 song labelled 1/4); the outputs keep the file's own.", show_default=False)
ALSO_TRACK = typer.Option(None, "--also-track", metavar="TRACK", help="A track that doubles the melody (unison or octaves, maybe whole bars later; the warning names it): edit it the same way.", show_default=False)
JOBS = typer.Option(1, "--jobs", "-J", min=1, metavar="N", help="Edit a batch in N processes (one per core); outputs and JSON lines keep the order of the inputs.")
ENGINE = typer.Option("auto", "--engine", metavar="auto|numpy|torch", help="Which inference engine runs the model; both give the same notes for a seed on a CPU.")
KEY = typer.Option(None, "--key", metavar="KEY|auto", help="Every new note in this key's scale: auto (the song's key, as clsm show prints it), or a tonic and mode: G, Em, Bb, E dorian, A harmonic-minor, D mixolydian.", show_default=False)
RANGE = typer.Option(None, "--range", metavar="LOW-HIGH|any", help="Every new note inside this range: note names (C4 is MIDI 60) or numbers, e.g. G3-E6. Default: 3 semitones around the melody's notes near the bars; any turns that off.", show_default=False)
KEEP_RHYTHM = typer.Option(False, "--keep-rhythm", help="New pitches on the original bars' rhythm: the same onsets and lengths, every rest stays a rest.")
MAX_LEAP = typer.Option(None, "--max-leap", metavar="N", help="No interval over N semitones between consecutive notes, the steps into and out of the bars included.", show_default=False)
DENSITY = typer.Option(None, "--density", metavar="LOW-HIGH", help="Notes per bar, e.g. 2-4 (approximate).", show_default=False)
POOL = typer.Option(None, "--pool", metavar="N", help="Candidates drawn before the best -n are written (default 8; raised to -n).", show_default=False)
CHORDS = typer.Option("follow", "--chords", metavar="follow|ignore", help="In a song with other pitched tracks, new notes on the beats lean towards the chord those tracks play there (follow), or do not (ignore).")
RANK = typer.Option("fit", "--rank", metavar="fit|none", help="Order of the written candidates: by the fit score (best first), or none (draw order).")
