"""Rich tables for ``clsm show``: the tracks of a file and a short summary of the song.

The text of every cell comes from small pure functions (``program_name``, ``meter_description``,
``tempo_description``, ...) that tests call directly; the tables only arrange them. Channels are
printed 1-based (channel 10 is the drum channel), as musicians and sequencers number them; programs
by their General MIDI name.
"""

from __future__ import annotations

from typing import Iterable, Sequence

from rich import box
from rich.table import Table
from rich.text import Text

from clsm_cli.timebase import DEFAULT_METER

# General MIDI level 1 program names, indexed by the program number as stored in MIDI (0..127).
GM_PROGRAM_NAMES = (
    # Piano
    "Acoustic Grand Piano", "Bright Acoustic Piano", "Electric Grand Piano", "Honky-tonk Piano",
    "Electric Piano 1", "Electric Piano 2", "Harpsichord", "Clavinet",
    # Chromatic percussion
    "Celesta", "Glockenspiel", "Music Box", "Vibraphone", "Marimba", "Xylophone", "Tubular Bells",
    "Dulcimer",
    # Organ
    "Drawbar Organ", "Percussive Organ", "Rock Organ", "Church Organ", "Reed Organ", "Accordion",
    "Harmonica", "Tango Accordion",
    # Guitar
    "Acoustic Guitar (nylon)", "Acoustic Guitar (steel)", "Electric Guitar (jazz)",
    "Electric Guitar (clean)", "Electric Guitar (muted)", "Overdriven Guitar", "Distortion Guitar",
    "Guitar Harmonics",
    # Bass
    "Acoustic Bass", "Electric Bass (finger)", "Electric Bass (pick)", "Fretless Bass", "Slap Bass 1",
    "Slap Bass 2", "Synth Bass 1", "Synth Bass 2",
    # Strings
    "Violin", "Viola", "Cello", "Contrabass", "Tremolo Strings", "Pizzicato Strings",
    "Orchestral Harp", "Timpani",
    # Ensemble
    "String Ensemble 1", "String Ensemble 2", "Synth Strings 1", "Synth Strings 2", "Choir Aahs",
    "Voice Oohs", "Synth Voice", "Orchestra Hit",
    # Brass
    "Trumpet", "Trombone", "Tuba", "Muted Trumpet", "French Horn", "Brass Section", "Synth Brass 1",
    "Synth Brass 2",
    # Reed
    "Soprano Sax", "Alto Sax", "Tenor Sax", "Baritone Sax", "Oboe", "English Horn", "Bassoon",
    "Clarinet",
    # Pipe
    "Piccolo", "Flute", "Recorder", "Pan Flute", "Blown Bottle", "Shakuhachi", "Whistle", "Ocarina",
    # Synth lead
    "Lead 1 (square)", "Lead 2 (sawtooth)", "Lead 3 (calliope)", "Lead 4 (chiff)",
    "Lead 5 (charang)", "Lead 6 (voice)", "Lead 7 (fifths)", "Lead 8 (bass + lead)",
    # Synth pad
    "Pad 1 (new age)", "Pad 2 (warm)", "Pad 3 (polysynth)", "Pad 4 (choir)", "Pad 5 (bowed)",
    "Pad 6 (metallic)", "Pad 7 (halo)", "Pad 8 (sweep)",
    # Synth effects
    "FX 1 (rain)", "FX 2 (soundtrack)", "FX 3 (crystal)", "FX 4 (atmosphere)", "FX 5 (brightness)",
    "FX 6 (goblins)", "FX 7 (echoes)", "FX 8 (sci-fi)",
    # Ethnic
    "Sitar", "Banjo", "Shamisen", "Koto", "Kalimba", "Bagpipe", "Fiddle", "Shanai",
    # Percussive
    "Tinkle Bell", "Agogo", "Steel Drums", "Woodblock", "Taiko Drum", "Melodic Tom", "Synth Drum",
    "Reverse Cymbal",
    # Sound effects
    "Guitar Fret Noise", "Breath Noise", "Seashore", "Bird Tweet", "Telephone Ring", "Helicopter",
    "Applause", "Gunshot",
)  # fmt: skip
assert len(GM_PROGRAM_NAMES) == 128

MICROSECONDS_PER_MINUTE = 60_000_000
CHOSEN_MARKER = "◀ melody"


def program_name(program: int | None, is_drum: bool = False) -> str:
    """The General MIDI name of a program (0..127); drums are a kit whatever the program says.

    ``None`` means the track never sets a program: synthesizers then play program 0.
    """
    if is_drum:
        return "Drum kit"
    if program is None:
        return f"{GM_PROGRAM_NAMES[0]} (default)"
    if not 0 <= program <= 127:
        raise ValueError(f"program must be in range 0..127, got {program}")
    return GM_PROGRAM_NAMES[program]


def pitch_range_text(low: int | None, high: int | None) -> str:
    """``"C4–G5"`` (or ``"—"`` for a track without notes)."""
    from clsm_cli.render.pianoroll import pitch_name

    if low is None or high is None:
        return "—"
    if low == high:
        return pitch_name(low)
    return f"{pitch_name(low)}–{pitch_name(high)}"


def percent_text(share: float) -> str:
    """A share in 0..1 as a whole percentage; a small non-zero share never reads as 0%."""
    if share <= 0:
        return "0%"
    if share < 0.005:
        return "<1%"
    return f"{share * 100:.0f}%"


def tempo_bpm(microseconds_per_beat: int) -> float:
    """Quarter notes per minute from a MIDI tempo (microseconds per quarter note)."""
    return MICROSECONDS_PER_MINUTE / microseconds_per_beat


def _bpm_text(bpm: float) -> str:
    return f"{bpm:.0f}" if abs(bpm - round(bpm)) < 0.05 else f"{bpm:.1f}"


def tempo_description(tempos: Sequence[tuple[int, int]]) -> str:
    """``"120 BPM"``; with changes ``"96–120 BPM (3 changes)"``; no tempo event gives the MIDI
    default of 120 BPM."""
    if not tempos:
        return "120 BPM (no tempo set; the MIDI default)"
    values = [tempo_bpm(us) for _, us in tempos]
    low, high = min(values), max(values)
    if len(tempos) == 1 or abs(high - low) < 0.05:
        return f"{_bpm_text(values[0])} BPM"
    changes = len(tempos) - 1
    return f"{_bpm_text(low)}–{_bpm_text(high)} BPM ({changes} change{'s' if changes != 1 else ''})"


def meter_runs(bars: Iterable) -> list[tuple[tuple[int, int], int, int]]:
    """Consecutive bars of the same meter: ``[((num, den), first_bar, last_bar), ...]``."""
    runs: list[tuple[tuple[int, int], int, int]] = []
    for bar in bars:
        meter = (bar.numerator, bar.denominator)
        if runs and runs[-1][0] == meter and runs[-1][2] == bar.number - 1:
            runs[-1] = (meter, runs[-1][1], bar.number)
        else:
            runs.append((meter, bar.number, bar.number))
    return runs


def meter_description(bars: Sequence, had_time_signature: bool = True) -> str:
    """``"4/4"``, or ``"4/4 (bars 1-8), 3/4 (bars 9-12)"`` when the meter changes."""
    runs = meter_runs(bars)
    if not runs:
        return str(DEFAULT_METER)
    if len(runs) == 1:
        (numerator, denominator), _, _ = runs[0]
        text = f"{numerator}/{denominator}"
    else:
        parts = []
        for (numerator, denominator), first, last in runs:
            where = f"bar {first}" if first == last else f"bars {first}-{last}"
            parts.append(f"{numerator}/{denominator} ({where})")
        text = ", ".join(parts)
    if not had_time_signature:
        text += " (no time signature in the file: assuming 4/4)"
    return text


def song_summary_rows(song, bars: Sequence) -> list[tuple[str, str]]:
    """The key/value lines of the summary: file, meter, tempo, bars, resolution, MIDI type."""
    num_bars = len(bars)
    tempos = song.tempos if getattr(song, "had_tempo", True) else []
    return [
        ("file", str(getattr(song.path, "name", song.path))),
        ("meter", meter_description(bars, song.had_time_signature)),
        ("tempo", tempo_description(tempos)),
        ("bars", f"{num_bars}"),
        ("resolution", f"{song.ticks_per_beat} ticks per quarter note"),
        ("MIDI type", f"{song.midi_type}"),
    ]


def song_summary_table(song, bars: Sequence) -> Text:
    """:func:`song_summary_rows` as aligned ``key  value`` lines (no trailing padding when piped)."""
    rows = song_summary_rows(song, bars)
    key_width = max(len(key) for key, _ in rows)
    text = Text()
    for index, (key, value) in enumerate(rows):
        if index:
            text.append("\n")
        text.append(key.ljust(key_width + 2), style="bold")
        text.append(value)
    return text


def track_kind(summary) -> str:
    """``drums``, ``bass`` or nothing: the parts the automatic melody choice avoids."""
    if summary.is_drum:
        return "drums"
    return "bass" if getattr(summary, "is_bass", False) else ""


def tracks_table(summaries: Sequence, chosen_number: int | None = None) -> Table:
    """One row per track (a chunk/channel pair): number, name, program, channel, notes, polyphony,
    pitch range, drums/bass, and a marker on the melody track ``clsm`` uses.

    ``summaries`` are ``melody.TrackSummary`` objects (anything with their fields).
    """
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("name", overflow="fold", max_width=28)
    table.add_column("program", overflow="fold")
    table.add_column("ch", justify="right", no_wrap=True)
    table.add_column("notes", justify="right", no_wrap=True)
    table.add_column("poly", justify="right", no_wrap=True)
    table.add_column("range", no_wrap=True)
    table.add_column("kind", no_wrap=True)
    table.add_column("", no_wrap=True)
    for summary in summaries:
        chosen = summary.number == chosen_number
        table.add_row(
            str(summary.number),
            getattr(summary, "label", None) or summary.name or "—",
            program_name(summary.program, summary.is_drum),
            str(summary.channel + 1),
            str(summary.notes),
            percent_text(summary.polyphony),
            pitch_range_text(summary.lowest_pitch, summary.highest_pitch),
            track_kind(summary),
            CHOSEN_MARKER if chosen else "",
            style="bold" if chosen else None,
        )
    return table


RUNNERS_UP_SHOWN = 3  # clsm show lists this many runners-up of the melody choice


def melody_choice_lines(choice) -> list[str]:
    """Why ``clsm show`` edits the track it edits: one line with the reason, then the runners-up
    (best first, at most ``RUNNERS_UP_SHOWN``), one line each. ``choice`` is a
    ``track_choice.MelodyChoice``."""
    lines = [f"melody track: {choice.reason}"]
    for candidate in choice.runners_up[:RUNNERS_UP_SHOWN]:
        lines.append(f"  runner-up: {candidate.reason}")
    left = len(choice.runners_up) - RUNNERS_UP_SHOWN
    if left > 0:
        lines.append(f"  ({left} more; choose any with --track)")
    return lines
