"""The help texts of ``clsm infill``, ``clsm interpolate`` and ``clsm vary`` (with their examples)."""

COMMON_NOTES = """\
Controls steer the new notes as they are drawn: --key, --range (default: 3
semitones around the melody near the bars), --keep-rhythm, --max-leap,
--density. On a track with chords the new line stays above the kept notes.
In a song with other pitched tracks, new notes on the beats lean towards the
chord they play there (--chords ignore turns this off).

Only the chosen bars of the melody track change; everything else in each
file stays exactly as it was. Outputs are named
<stem>.<verb>-bars<A>-<B>-s<seed>-<k>.mid (in --out), so a rerun with another
seed never overwrites earlier ones; inputs of one run with the same name get
their folder's name too (a-song, b-song). Each output records the model, seed,
bars, command and its latent w in a text event (and in --json), so that
interpolate --start/--end and vary --around can reuse it.
"""

INFILL_HELP = f"""\
Write new versions of some bars (infills), sampled given the bars around them.

{COMMON_NOTES}
Ranges longer than 4 bars are filled in chunks of at most 4 bars, left to
right: each chunk sees the bars before it (new ones included) and the bars
after it. A pool of versions (--pool, default 8) is drawn and the best -n are
written, best first (file -1 is the best; --rank none keeps draw order). A
version that is all rests, the original bars or a copy of another is drawn
again (up to 4 draws; --json lists them under "redraws") and dropped if it
stays so; a file left with none fails (exit 3). Bars where the melody is
silent (an intro) get a new melody, at least one note per bar.

[bold]Examples[/bold]

  clsm infill song.mid --bars 3-4                  4 infills of bars 3-4
  clsm infill song.mid --bars 3-4 -n 8 --seed 7    8 infills, reproducible
  clsm infill song.mid --bars 5-6 --combined       also all infills in one file
  clsm infill songs/*.mid --bars 5-6 --json        batch, one JSON line per file
  clsm infill song.mid --bars 3-4 --key auto --max-leap 7 --range G3-E6
  clsm infill song.mid --bars 3-4 --keep-rhythm    new pitches, same rhythm
"""

INTERPOLATE_HELP = f"""\
Morph some bars from one version to another in --steps steps (steps + 1 files).

Right after clsm infill or clsm vary, no FILE is needed: it continues from
the latest run in --out (the current folder), from its candidate 1 to 2
(--start 3 --end 1 choose others). --start and --end also take files (say two
infills you like); with no FILE the song is the start file itself. With a
FILE, the endpoints are two samples from the model, the ones clsm infill -n 2
with the same seed writes; --from-original starts from the existing bars.

The first and last files hold the chosen bars note for note. The steps
between decode points on the line between their latents, anchored to both
ends: every step reuses the random numbers that reproduce the ends, blended
along the way, so neighbours differ by a few notes at most.

{COMMON_NOTES}
[bold]Examples[/bold]

  clsm infill song.mid --bars 3-4 -n 2 --seed 1    two infills, then
  clsm interpolate --steps 8                       9 files, infill 1 to infill 2
  clsm interpolate --start 2 --end 1               the other way round
  clsm interpolate song.mid --bars 3-4 --from-original   existing bars to a sample
  clsm interpolate --start a.mid --end b.mid --combined  also all steps in one file
"""

VARY_HELP = f"""\
Write variations of some bars: small moves in the model's latent space.

The centre is the existing bars (their posterior latent), or an earlier
output given with --around. --amount (0 to 4) sets how far variations go: 0
writes the centre's bars themselves, 0.25 changes a few notes, 1 is as free
as a new sample (the model's prior width). With sampled decoding (the
default) each variation is decoded with random numbers anchored to the
centre's notes, blended with fresh ones in proportion to the amount (up to
1), so the amount sets how far the notes move. Argmax decoding (temperature
0, the paper's evaluation protocol) moves through the latent only.

{COMMON_NOTES}
[bold]Examples[/bold]

  clsm vary song.mid --bars 5-6                   4 variations, amount 0.5
  clsm vary song.mid --bars 5-6 --amount 0.25 -n 8
  clsm vary song.mid --bars 5-6 --around song.infill-bars5-6-s7-2.mid
"""
