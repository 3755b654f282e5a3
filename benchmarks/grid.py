"""Read -> tokens -> notes round trips of whole tunes: what the 16th grid and the triplet grid keep.

For every tune (CRÉ's MIDI files, music21's folk corpus) the melody is read as the editing commands
read it (bars from the time signatures, the melody track, its top voice), put on a grid, turned
into tokens, decoded back to notes and placed on ticks again, as an edit writes them. Figures per
meter, for today's 16th grid and the triplet grid side by side:

* onsets exact: the share of the melody's onsets that come back on their exact tick. CRÉ's files
  come from abc2midi, which starts every note one tick late (and ends it on time); that constant
  offset is found per tune (the shift of -3..3 ticks that puts the most onsets on the 12-a-quarter
  lattice) and removed from the reference first;
* tunes exact: the share of tunes with every onset exact;
* merged: onsets lost because two of them met on one grid line (notes lost), as a share of onsets;
* durations exact: the share of the notes back on their exact onset that also end on their tick;
* mixed quarters (triplet grid): quarters holding both 16ths and triplets (placed on the grid that
  moves them least);
* out of range: the share of notes outside the model's pitches 55..84 after the best octave shift
  (reported apart: the timing figures fold pitches into range first).

Goals (issue 23) on CRÉ's x/4 tunes: at least 98.5% of onsets exact and 70% of tunes exact.

    python benchmarks/grid.py --cre /tmp/cre/cre_corpus/MIDI            # CRÉ only
    python benchmarks/grid.py --cre DIR --music21 --music21-every 4     # and a quarter of music21's tunes
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from clsm_cli.constants import MAX_PITCH, MIN_PITCH
from clsm_cli.errors import ClsmError
from clsm_cli.music import melody
from clsm_cli.music.bars import song_bars, step_to_tick
from clsm_cli.music.midi_read import read_midi
from clsm_cli.music.tokens import StepNote, decode_tokens, encode_notes, fold_into_range, octave_shift_into_range
from clsm_cli.music.track_choice import choose_melody
from clsm_cli.music.triplets import decode_fine_tokens, encode_fine_notes, fine_to_ticks, place_on_triplet_grid
from clsm_cli.music.voices import top_line

GRIDS = ("16th", "triplet")
MAX_CONSTANT_OFFSET_TICKS = 3


@dataclass
class Tally:
    """Counts of one meter on one grid."""

    tunes: int = 0
    tunes_exact: int = 0
    onsets: int = 0
    onsets_exact: int = 0
    merged: int = 0
    durations_exact: int = 0
    mixed_quarters: int = 0
    quarters: int = 0

    def add(self, reference: list[tuple[int, int]], back: list[tuple[int, int]], mixed: int, quarters: int) -> None:
        back_ends = dict(back)
        exact = [start for start, _ in reference if start in back_ends]
        self.tunes += 1
        self.tunes_exact += len(exact) == len(reference)
        self.onsets += len(reference)
        self.onsets_exact += len(exact)
        self.merged += max(0, len(reference) - len(back))
        self.durations_exact += sum(back_ends[start] == end for start, end in reference if start in back_ends)
        self.mixed_quarters += mixed
        self.quarters += quarters


@dataclass
class MeterFigures:
    grids: dict[str, Tally] = field(default_factory=lambda: {grid: Tally() for grid in GRIDS})
    notes: int = 0
    out_of_range: int = 0


def constant_offset(starts: np.ndarray, bar_start_ticks: np.ndarray, ticks_per_beat: int) -> int:
    """The shift (-3..3 ticks) that puts the most onsets on the 12-a-quarter lattice of their bar;
    0 when none does better than no shift (a file played or written on time)."""
    index = np.clip(np.searchsorted(bar_start_ticks, starts, side="right") - 1, 0, len(bar_start_ticks) - 1)
    offsets = starts - bar_start_ticks[index]
    best, best_count = 0, -1
    for shift in sorted(range(-MAX_CONSTANT_OFFSET_TICKS, MAX_CONSTANT_OFFSET_TICKS + 1), key=abs):
        count = int(((12 * (offsets - shift)) % ticks_per_beat == 0).sum())
        if count > best_count:
            best, best_count = shift, count
    return best


def reference_line(song, bars):
    """The melody track and its top voice on its original ticks: ([(start, end, pitch)], track)."""
    track = choose_melody(song, None, bars).track
    on_ticks = top_line([StepNote(note.start_tick, max(note.end_tick, note.start_tick + 1), note.pitch)
                         for note in track.notes])  # the top voice before any grid sees it
    return [(note.start_step, note.end_step, note.pitch) for note in on_ticks], track


def sixteenth_round_trip(track, bars, ticks_per_beat: int, shift: int) -> tuple[list[tuple[int, int]], int, int]:
    line, _ = melody.quantize_line(track, bars, ticks_per_beat)
    num_steps = bars[-1].end_step
    folded = [StepNote(note.start_step, note.end_step, fold_into_range(note.pitch + shift)) for note in line]
    tokens = encode_notes(folded, num_steps)
    back = decode_tokens(tokens)
    return [(step_to_tick(bars, ticks_per_beat, note.start_step), step_to_tick(bars, ticks_per_beat, note.end_step))
            for note in back], 0, 0


def triplet_round_trip(track, bars, ticks_per_beat: int, shift: int) -> tuple[list[tuple[int, int]], int, int]:
    columns = [np.array([getattr(note, name) for note in track.notes], dtype=np.int64)
               for name in ("start_tick", "end_tick", "pitch")]
    placement = place_on_triplet_grid(*columns, bars, ticks_per_beat)
    line = top_line(placement.notes)
    folded = [StepNote(note.start_step, note.end_step, fold_into_range(note.pitch + shift)) for note in line]
    tokens = encode_fine_notes(folded, placement.triplet_steps, bars[-1].end_step)
    back, _ = decode_fine_tokens(tokens)
    starts = fine_to_ticks(np.array([note.start_step for note in back]), bars, ticks_per_beat)
    ends = fine_to_ticks(np.array([note.end_step for note in back]), bars, ticks_per_beat)
    quarters = sum(-(-bar.steps // 4) for bar in bars)
    return list(zip(starts.tolist(), ends.tolist())), placement.mixed_quarters, quarters


def measure_song(song, figures: dict[str, MeterFigures]) -> None:
    bars = song_bars(song)
    meters = {f"{bar.numerator}/{bar.denominator}" for bar in bars}
    meter = meters.pop() if len(meters) == 1 else "mixed"
    reference, track = reference_line(song, bars)
    if not reference:
        return
    tpb = song.ticks_per_beat
    starts = np.array([start for start, _, _ in reference], dtype=np.int64)
    offset = constant_offset(starts, np.array([bar.start_tick for bar in bars], dtype=np.int64), tpb)
    expected = sorted({(start - offset, end) for start, end, _ in reference})
    expected = list({start: (start, end) for start, end in expected}.values())  # one note per onset
    pitches = [pitch for _, _, pitch in reference]
    shift = octave_shift_into_range(pitches)
    entry = figures[meter]
    entry.notes += len(pitches)
    entry.out_of_range += sum(not MIN_PITCH <= pitch + shift <= MAX_PITCH for pitch in pitches)
    for grid, round_trip in (("16th", sixteenth_round_trip), ("triplet", triplet_round_trip)):
        back, mixed, quarters = round_trip(track, bars, tpb, shift)
        entry.grids[grid].add(expected, back, mixed, quarters)


def cre_songs(folder: Path):
    for path in sorted(folder.glob("*.mid")):
        try:
            yield path.name, read_midi(path)
        except ClsmError as error:
            yield path.name, error


def music21_songs(every: int):
    from clsm_cli.data.music21_corpus import list_folk_tunes, tune_song
    from clsm_cli.data.song_notes import SongSkipped

    for tune in list_folk_tunes()[::every]:
        try:
            yield tune.identity, tune_song(tune)
        except (SongSkipped, ClsmError) as error:
            yield tune.identity, error


def run_corpus(name: str, songs) -> tuple[dict[str, MeterFigures], int, int]:
    figures: dict[str, MeterFigures] = defaultdict(MeterFigures)
    read = skipped = 0
    started = time.perf_counter()
    for identity, song in songs:
        if isinstance(song, Exception):
            skipped += 1
            continue
        try:
            measure_song(song, figures)
            read += 1
        except ClsmError:
            skipped += 1
    print(f"{name}: processed {read + skipped} tunes (skipped {skipped}) in {time.perf_counter() - started:.0f} s")
    return figures, read, skipped


def percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:5.1f}%" if whole else "    -"


def combined(figures: dict[str, MeterFigures], meters: list[str]) -> MeterFigures:
    """One row for several meters (counts added)."""
    total = MeterFigures()
    for meter in meters:
        total.notes += figures[meter].notes
        total.out_of_range += figures[meter].out_of_range
        for grid in GRIDS:
            for attribute in vars(total.grids[grid]):
                setattr(total.grids[grid], attribute,
                        getattr(total.grids[grid], attribute) + getattr(figures[meter].grids[grid], attribute))
    return total


def is_x_4(meter: str) -> bool:
    return meter != "mixed" and meter.endswith("/4")


def print_table(name: str, figures: dict[str, MeterFigures]) -> None:
    rows = sorted(figures, key=lambda meter: -figures[meter].grids["16th"].tunes)
    groups = {meter: figures[meter] for meter in rows}
    groups["all x/4"] = combined(figures, [meter for meter in rows if is_x_4(meter)])
    groups["x/4, 2/2"] = combined(figures, [meter for meter in rows if is_x_4(meter) or meter == "2/2"])
    print(f"\n{name}: 16th grid | triplet grid  (exact onsets, tunes all exact, merged onsets, exact durations)")
    print(f"{'meter':>8} {'tunes':>6} {'onsets':>7} | {'exact':>6} {'tunes':>6} {'merged':>6} {'durat.':>6} | "
          f"{'exact':>6} {'tunes':>6} {'merged':>6} {'durat.':>6} {'mixed q':>7} | {'range':>6}")
    for meter, entry in groups.items():
        sixteenth, triplet = entry.grids["16th"], entry.grids["triplet"]
        print(
            f"{meter:>8} {sixteenth.tunes:>6} {sixteenth.onsets:>7} | "
            f"{percent(sixteenth.onsets_exact, sixteenth.onsets)} {percent(sixteenth.tunes_exact, sixteenth.tunes)} "
            f"{percent(sixteenth.merged, sixteenth.onsets)} {percent(sixteenth.durations_exact, sixteenth.onsets_exact)} | "
            f"{percent(triplet.onsets_exact, triplet.onsets)} {percent(triplet.tunes_exact, triplet.tunes)} "
            f"{percent(triplet.merged, triplet.onsets)} {percent(triplet.durations_exact, triplet.onsets_exact)} "
            f"{triplet.mixed_quarters:>7} | {percent(entry.out_of_range, entry.notes)}"
        )


def goals(figures: dict[str, MeterFigures]) -> bool:
    tally = combined(figures, [meter for meter in figures if is_x_4(meter)]).grids["triplet"]
    onsets_share = tally.onsets_exact / max(tally.onsets, 1)
    tunes_share = tally.tunes_exact / max(tally.tunes, 1)
    met = onsets_share >= 0.985 and tunes_share >= 0.70
    print(f"\ngoals on CRÉ x/4 (triplet grid): onsets exact {100 * onsets_share:.1f}% (>= 98.5%), "
          f"tunes exact {100 * tunes_share:.1f}% (>= 70%): {'met' if met else 'NOT met'}")
    return met


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cre", type=Path, help="CRÉ's MIDI folder (cre_corpus/MIDI from ../shared/data/cre.tar.xz)")
    parser.add_argument("--music21", action="store_true", help="also music21's folk corpus (the music21 extra)")
    parser.add_argument("--music21-every", type=int, default=4, help="take every Nth music21 tune (1: all, ~10 min)")
    args = parser.parse_args()
    if args.cre is None and not args.music21:
        parser.error("give --cre DIR, --music21, or both")
    print(f"parameters: cre={args.cre} music21={args.music21} music21_every={args.music21_every} "
          f"constant offset search +-{MAX_CONSTANT_OFFSET_TICKS} ticks")
    met = True
    if args.cre is not None:
        if not args.cre.is_dir():
            parser.error(f"{args.cre} is not a folder")
        figures, _, _ = run_corpus("CRÉ", cre_songs(args.cre))
        print_table("CRÉ", figures)
        met = goals(figures)
    if args.music21:
        figures, _, _ = run_corpus(f"music21 folk corpus (every {args.music21_every})", music21_songs(args.music21_every))
        print_table("music21", figures)
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
