"""Which track of a song is its melody: one choice per song, with the reason a musician would give.

:func:`choose_melody` scores every track that is not drums on the whole song (never on a bar range,
so ``clsm show`` and every ``--bars`` agree) and returns a :class:`MelodyChoice`: the track, a
one-line reason and the runners-up with theirs. The score adds up what a musician looks at:

* **Its name**, read as words and word prefixes ("Lead Vocals", "LeadVox", "melody_2"): a vocal
  name (vocal, vox, voice, sing...) counts most, then melody / tune / theme, then lead / solo.
  Bass, walking-bass ("Walk"), drum and percussion names, and backing / harmony parts count
  against a track; so do pad, chord, strings, comping and accompaniment names unless the name also
  says melody or vocal ("Strings Melody").
* **Its register**: a melody sits mostly at or above C4 (MIDI 60); in a part with chords, what
  counts is its top voice (``voices``), where a piano part's tune is.
* **One line or chords**: a monophonic track scores more than a mostly monophonic one; chords
  score nothing (a piano part with a tune over its chords can still win when nothing else fits).
* **How much of the song it covers** (bars where it sounds) and **how many notes** it has, next to
  the busiest track.
* **Its General MIDI program**, as a hint: bass programs (33-40 as people count) count against it;
  pads, string ensembles, percussive and sound-effect programs a little; brass, reed, pipe and
  synth-lead programs a little for it.

Equal scores go to the lower track number. Between tracks named alike but for a number ("Melody 1",
"Melody 2"), the lower number wins unless the other's score is clearly higher
(``NUMBERED_NAME_MARGIN``). When the best track is named as accompaniment (chords, pad, bass...),
no track looks like a melody: the choice says so (``looks_like_melody``) and the editing commands
ask for ``--track``. ``--track`` overrides all of it (:func:`find_track`).

Tracks that double the chosen one (the same notes at the unison or whole octaves, at the same time
or whole bars later or earlier) are found by :func:`doubling_tracks`, for a warning naming them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from clsm_cli.constants import BASS_PROGRAMS
from clsm_cli.errors import InputFileError, UsageError
from clsm_cli.music.bars import Bar, song_bars
from clsm_cli.music.song import MidiSong, MidiTrack, NoteTrack, note_arrays
from clsm_cli.music.voices import top_voice_mask
from clsm_cli.timebase import tick_offsets_to_steps

MIDDLE_C = 60  # C4: a melody sits mostly at or above it
MOSTLY_MONOPHONIC_SHARE = 0.1  # a melody track may have this share of its notes in chords
PARTLY_MONOPHONIC_SHARE = 0.3  # up to this share: one line with a few double stops
LEGATO_TOLERANCE_BEATS = 1 / 8  # overlaps shorter than a 32nd note are legato, not chords
NEARBY_BARS = 1  # "in or around" a bar range: this many bars on each side
NUMBERED_NAME_MARGIN = 2.0  # "Melody 2" beats "Melody 1" only by more than this score
DOUBLING_SHARE = 0.8  # a track doubles the melody when this share of the melody's notes have a twin in it
DOUBLING_MIN_NOTES = 8  # fewer melody notes than this say nothing about doubling
DOUBLING_MAX_BAR_SHIFT = 8  # doubling shifted by up to this many whole bars


# --- names ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NameCue:
    """What a word of a track name says about the track."""

    kind: str  # what the reason says: "named <kind>"
    points: float
    overrides_melody: bool = True  # False: a melody or vocal word in the same name wins


def _never(kind: str) -> NameCue:
    return NameCue(kind, -8.0)


def _accompaniment(kind: str) -> NameCue:
    return NameCue(kind, -6.0, overrides_melody=False)


# (cue, word prefixes, whole words): a word of the name matches when it starts with one of the
# prefixes or is one of the whole words.
NAME_CUES: tuple[tuple[NameCue, tuple[str, ...], tuple[str, ...]], ...] = (
    # A melody's names, best first.
    (NameCue("vocal", 8.0), ("voca", "vox", "voice", "voz", "singer", "singing", "chant"), ("sing",)),
    (NameCue("melody", 7.0), ("melod", "tune", "theme"), ()),
    (NameCue("lead", 6.0), ("lead", "solo"), ()),
    # Never the melody, whatever else the name says.
    (_never("bass"), ("bass",), ()),
    (_never("walking bass"), ("walk",), ()),
    (_never("drums"), ("drum", "kick", "snare", "hihat", "cymbal"), ("kit", "hat")),
    (_never("percussion"), ("perc",), ()),
    (_never("backing part"), ("backing", "bgv"), ()),
    (_never("harmony part"), (), ("harmony", "harmonies")),
    # Accompaniment, unless the name also says melody or vocal.
    (_accompaniment("pad"), (), ("pad", "pads")),
    (_accompaniment("chords"), ("chord",), ()),
    (_accompaniment("strings"), ("string",), ()),
    (_accompaniment("comping"), ("comping",), ("comp",)),
    (_accompaniment("accompaniment"), ("accomp",), ("acc",)),
    (_accompaniment("rhythm part"), ("rhythm",), ()),
    (_accompaniment("arpeggio"), ("arp",), ()),
    (_accompaniment("strumming"), ("strum",), ()),
)
_NOT_A_CUE = frozenset({"bassoon", "bassoons"})  # words that start like a cue but are not one


def name_words(name: str) -> list[str]:
    """The words of a track name, lower case: split at anything not a letter and at camel case."""
    words = []
    for part in re.findall(r"[^\W\d_]+", name):
        words.extend(re.split(r"(?<=[a-z])(?=[A-Z])", part))
    return [word.casefold() for word in words if word]


def name_cue(name: str) -> NameCue | None:
    """The cue a track name gives, or None: a hard negative cue wins, then the best melody cue, then
    a soft negative one."""
    matches = [
        cue
        for word in name_words(name)
        if word not in _NOT_A_CUE
        for cue, prefixes, whole_words in NAME_CUES
        if word in whole_words or word.startswith(prefixes)
    ]
    hard = [cue for cue in matches if cue.points < 0 and cue.overrides_melody]
    positive = [cue for cue in matches if cue.points > 0]
    soft = [cue for cue in matches if cue.points < 0 and not cue.overrides_melody]
    for group in (hard, positive, soft):
        if group:
            return max(group, key=lambda cue: cue.points) if group is positive else group[0]
    return None


# --- General MIDI programs (0-based) --------------------------------------------------------------

_PROGRAM_HINTS = (  # (programs, points, General MIDI family)
    (BASS_PROGRAMS, -4.0, "bass"),
    (range(48, 52), -1.0, "string-ensemble"),
    (range(88, 96), -1.0, "pad"),
    (range(112, 120), -2.0, "percussive"),
    (range(120, 128), -2.0, "sound-effects"),
    (range(56, 64), 1.0, "brass"),
    (range(64, 72), 1.0, "reed"),
    (range(72, 80), 1.0, "pipe"),
    (range(80, 88), 1.0, "synth-lead"),
)


def _program_hint(program: int) -> tuple[float, str]:
    for programs, points, family in _PROGRAM_HINTS:
        if program in programs:
            return points, f"GM {family} program"
    return 0.0, ""


def is_bass_track(track: MidiTrack | NoteTrack) -> bool:
    """General MIDI bass programs (33..40 as people count, 32..39 here) or a bass name: a word
    starting with "bass" (not "bassoon") or "walk" (a walking bass)."""
    cue = name_cue(track.name)
    return track.program in BASS_PROGRAMS or (cue is not None and cue.kind in ("bass", "walking bass"))


# --- measuring a track ----------------------------------------------------------------------------


def polyphony_share(track: MidiTrack | NoteTrack, ticks_per_beat: int) -> float:
    """Share of the track's notes that start while an earlier note still sounds (beyond a short
    legato overlap) or together with another note."""
    notes = note_arrays(track)  # sorted by start tick
    if not len(notes):
        return 0.0
    starts = notes.start_ticks
    sounding_until = np.maximum.accumulate(notes.end_ticks)[:-1]  # the latest end before each note
    tolerance = LEGATO_TOLERANCE_BEATS * ticks_per_beat
    overlapping = (starts[1:] < sounding_until - tolerance) | (starts[1:] == starts[:-1])
    return int(overlapping.sum()) / len(notes)


def _bar_index(bar_starts: np.ndarray, ticks: np.ndarray) -> np.ndarray:
    return np.maximum(np.searchsorted(bar_starts, ticks, side="right") - 1, 0)


def bars_sounding(track: MidiTrack | NoteTrack, bars: Sequence[Bar], ticks_per_beat: int) -> np.ndarray:
    """For each bar, whether ``track`` plays in it (bool array, one per bar): a note starts there (its
    onset rounded to the 16th grid, half a step up, falls in it), or sounds there for more than a 16th
    (a release a few ticks late does not count)."""
    notes = note_arrays(track)
    bar_starts = np.array([bar.start_tick for bar in bars], dtype=np.int64)
    # onset + half a 16th (tpb / 8) in eighth-ticks, so that it is exact at every resolution
    first = _bar_index(8 * bar_starts, 8 * notes.start_ticks + ticks_per_beat)
    last = np.maximum(_bar_index(bar_starts, notes.end_ticks - ticks_per_beat // 4 - 1), first)
    marks = np.zeros(len(bars) + 1, dtype=np.int64)  # +1 where a note's bars begin, -1 after them
    np.add.at(marks, first, 1)
    np.add.at(marks, last + 1, -1)
    return np.cumsum(marks)[: len(bars)] > 0


def bars_with_onsets(song: MidiSong, bars: Sequence[Bar]) -> np.ndarray:
    """For each bar, whether any track (drums included) starts a note in it (onsets rounded as in
    :func:`bars_sounding`): the bars of the song that have music, which coverage is measured against."""
    bar_starts = np.array([bar.start_tick for bar in bars], dtype=np.int64)
    has_onset = np.zeros(len(bars), dtype=bool)
    for track in song.tracks:
        has_onset[_bar_index(8 * bar_starts, 8 * note_arrays(track).start_ticks + song.ticks_per_beat)] = True
    return has_onset


@dataclass(frozen=True)
class TrackTraits:
    """What the choice looks at in one track, measured on the whole song."""

    notes: int
    share_from_middle_c: float  # share of the top voice's notes at or above C4 (all notes of one line)
    polyphony: float  # polyphony_share
    coverage: float  # share of the song's bars with music in which the track plays


def track_traits(
    track: MidiTrack | NoteTrack, bars: Sequence[Bar], ticks_per_beat: int, music: np.ndarray
) -> TrackTraits:
    """``music`` marks the bars that count for coverage (:func:`bars_with_onsets`)."""
    notes = note_arrays(track)
    if not len(notes):
        return TrackTraits(0, 0.0, 0.0, 0.0)
    # The top voice on a plain 16th grid (bar lines do not matter for which notes start together).
    steps = tick_offsets_to_steps(notes.start_ticks, ticks_per_beat)
    end_steps = np.maximum(tick_offsets_to_steps(notes.end_ticks, ticks_per_beat), steps + 1)
    top = np.array(top_voice_mask(steps.tolist(), end_steps.tolist(), notes.pitches.tolist()), dtype=bool)
    return TrackTraits(
        notes=len(notes),
        share_from_middle_c=float((notes.pitches[top] >= MIDDLE_C).mean()),
        polyphony=polyphony_share(track, ticks_per_beat),
        coverage=float((bars_sounding(track, bars, ticks_per_beat) & music).sum() / max(int(music.sum()), 1)),
    )


# --- the choice -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrackCandidate:
    """One scored track: the chosen one or a runner-up."""

    track: MidiTrack
    score: float
    reason: str  # "track 3 'Melody': named melody, above C4 94%, monophonic, covers 96% of bars"


@dataclass(frozen=True)
class Doubling:
    """Another track that plays the chosen track's notes: ``octaves`` apart, ``bar_shift`` whole bars later."""

    track: MidiTrack
    octaves: int
    bar_shift: int
    share: float  # of the chosen track's notes with a twin in this track

    def describe(self) -> str:
        where = ("at the unison" if self.octaves == 0 else
                 f"{abs(self.octaves)} octave{'s' if abs(self.octaves) > 1 else ''} {'above' if self.octaves > 0 else 'below'}")
        when = ("" if self.bar_shift == 0 else
                f", {abs(self.bar_shift)} bar{'s' if abs(self.bar_shift) > 1 else ''} {'later' if self.bar_shift > 0 else 'earlier'}")
        return f"track {self.track.number} ({self.track.label}) doubles it {where}{when}"


@dataclass(frozen=True)
class MelodyChoice:
    """The melody track of a song and why; ``runners_up`` best first (empty for ``--track``)."""

    track: MidiTrack
    reason: str  # one line, as TrackCandidate.reason; "chosen with --track" for a requested track
    requested: bool
    runners_up: tuple[TrackCandidate, ...] = ()
    looks_like_melody: bool = True  # False: every candidate is named as accompaniment (edits need --track)
    doubled_by: tuple[Doubling, ...] = ()

    def doubling_warnings(self) -> list[str]:
        return [f"{doubling.describe()}: only track {self.track.number} is edited, so the two parts will "
                f"differ there (--also-track {doubling.track.number} edits it the same way)"
                for doubling in self.doubled_by]


def _percent(share: float) -> str:
    return f"{round(100 * share)}%"


def score_track(track: MidiTrack, traits: TrackTraits, most_notes: int) -> TrackCandidate:
    """The score of one track and the words that explain it."""
    score, words = 0.0, []
    cue = name_cue(track.name)
    if cue is not None:
        score += cue.points
        words.append(f"named {cue.kind}")
    points, hint = _program_hint(track.program)
    if points:
        score += points
        words.append(hint)
    score += 3.0 * traits.share_from_middle_c
    line = "" if traits.polyphony <= MOSTLY_MONOPHONIC_SHARE else "top voice "
    if traits.share_from_middle_c >= 0.5:
        words.append(f"{line}above C4 {_percent(traits.share_from_middle_c)}")
    else:
        words.append(f"{line}below C4 {_percent(1 - traits.share_from_middle_c)}")
    if traits.polyphony <= MOSTLY_MONOPHONIC_SHARE:
        score += 2.0
        words.append("monophonic")
    elif traits.polyphony <= PARTLY_MONOPHONIC_SHARE:
        score += 1.0
        words.append(f"mostly one line ({_percent(traits.polyphony)} of notes in chords)")
    else:
        words.append(f"chords ({_percent(traits.polyphony)} of notes)")
    score += 3.0 * traits.coverage + traits.notes / max(most_notes, 1)
    words.append(f"covers {_percent(traits.coverage)} of bars")
    return TrackCandidate(track, round(score, 6), f"track {track.number} '{track.label}': {', '.join(words)}")


def rank_tracks(song: MidiSong, bars: Sequence[Bar] | None = None) -> list[TrackCandidate]:
    """Every track that is not drums, scored on the whole song, best first (equal scores: the lower
    track number first)."""
    bars = bars if bars is not None else song_bars(song)
    candidates = [track for track in song.tracks if not track.is_drum and track.notes]
    music = bars_with_onsets(song, bars)
    traits = [track_traits(track, bars, song.ticks_per_beat, music) for track in candidates]
    most_notes = max((trait.notes for trait in traits), default=0)
    scored = [score_track(track, trait, most_notes) for track, trait in zip(candidates, traits)]
    return sorted(scored, key=lambda candidate: (-candidate.score, candidate.track.number))


def track_list(song: MidiSong) -> str:
    """"1 Melody, 2 Bass, 3 Drums": the song's tracks for an error message."""
    return ", ".join(f"{track.number} {track.label}" for track in song.tracks)


def find_track(song: MidiSong, requested: str) -> MidiTrack:
    """The track a ``--track`` value names: its number, or its name (exact, then a unique part of
    it, ignoring case). UsageError listing the tracks otherwise."""
    text = str(requested).strip()
    if text.isascii() and text.isdigit():  # str.isdigit alone accepts "²", which int() refuses
        number = int(text)
        for track in song.tracks:
            if track.number == number:
                return track
        raise UsageError(f"--track {text} does not exist in {song.name}; its tracks are {track_list(song)}")
    wanted = text.casefold()
    exact = [track for track in song.tracks if track.label.casefold() == wanted]
    partial = [track for track in song.tracks if wanted and wanted in track.label.casefold()]
    for matches in (exact, partial):
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            numbers = ", ".join(str(track.number) for track in matches)
            raise UsageError(f"--track '{text}' matches tracks {numbers} of {song.name}; give the number instead")
    raise UsageError(
        f"--track '{text}' is neither a track number nor a track name in {song.name}; "
        f"its tracks are {track_list(song)}"
    )


def choose_melody(song: MidiSong, requested: str | None = None, bars: Sequence[Bar] | None = None) -> MelodyChoice:
    """The melody track of ``song``: the ``requested`` one (``--track``, a number or a name) when
    given, else the best of :func:`rank_tracks`. The same for every bar range of the song.

    UsageError for an unknown or drum ``requested`` track; InputFileError when the song has only
    drums.
    """
    bars = bars if bars is not None else song_bars(song)
    if requested is not None and str(requested).strip():
        track = find_track(song, requested)
        if track.is_drum:
            raise UsageError(
                f"track {track.number} ({track.label}) of {song.name} is a drum track; "
                f"choose a melodic one: {track_list(song)}"
            )
        return MelodyChoice(track, f"track {track.number} '{track.label}': chosen with --track", requested=True,
                            doubled_by=tuple(doubling_tracks(song, track, bars)))
    ranked = rank_tracks(song, bars)
    if not ranked:
        raise InputFileError(f"{song.name} has only drum tracks; clsm needs a melody")
    ranked = _lower_number_first(ranked)
    best, *runners_up = ranked
    cue = name_cue(best.track.name)
    if cue is not None and cue.points < 0:
        reason = (f"no track looks like a melody (the likeliest, {best.reason}); infill, interpolate and vary "
                  "need --track")
        return MelodyChoice(best.track, reason, requested=False, runners_up=tuple(runners_up), looks_like_melody=False)
    return MelodyChoice(best.track, best.reason, requested=False, runners_up=tuple(runners_up),
                        doubled_by=tuple(doubling_tracks(song, best.track, bars)))


def requested_doubling(song: MidiSong, melody: MidiTrack, requested: str, bars: Sequence[Bar]) -> Doubling:
    """The doubling ``--also-track`` names (a number or a name); UsageError when that track does not
    double ``melody`` (see :func:`doubling_tracks`)."""
    other = find_track(song, requested)
    for doubling in doubling_tracks(song, melody, bars):
        if doubling.track is other:
            return doubling
    raise UsageError(f"--also-track {requested}: track {other.number} ({other.label}) does not double track "
                     f"{melody.number} ({melody.label}) in {song.name} (the same notes at the unison or in octaves, "
                     "shifted by whole bars or not), so there is no same way to edit it")


def _numbered_name(name: str) -> tuple[str, int] | None:
    """("melody", 2) for "Melody 2", "melody_2" or "Melody2"; None for a name without a number at its end."""
    match = re.fullmatch(r"(.*?\D)[\s_-]*(\d+)\s*", name.strip())
    if match is None:
        return None
    return " ".join(name_words(match.group(1))), int(match.group(2))


def _lower_number_first(ranked: list[TrackCandidate]) -> list[TrackCandidate]:
    """``ranked`` with the best track swapped for a lower-numbered one named alike ("Melody 1" for
    "Melody 2") whose score is within ``NUMBERED_NAME_MARGIN`` of it."""
    best = _numbered_name(ranked[0].track.name)
    if best is None or not best[0]:
        return ranked
    alike = []
    for index, candidate in enumerate(ranked):
        named = _numbered_name(candidate.track.name)
        if named is not None and named[0] == best[0] and ranked[0].score - candidate.score <= NUMBERED_NAME_MARGIN:
            alike.append((named[1], index))
    _, index = min(alike)
    if index == 0:
        return ranked
    chosen = ranked[index]
    noted = TrackCandidate(chosen.track, chosen.score,
                           f"{chosen.reason}; the lowest number of the tracks named '{best[0]} N' that score alike")
    return [noted] + [candidate for position, candidate in enumerate(ranked) if position != index]


def doubling_tracks(song: MidiSong, track: MidiTrack, bars: Sequence[Bar]) -> list[Doubling]:
    """Tracks (not drums) that play ``track``'s notes at the unison or whole octaves, at the same time
    or shifted by whole bars: at least ``DOUBLING_SHARE`` of its notes (onsets on the 16th grid)
    have a twin there. Bars of one length only (a shift is a number of ticks)."""
    melody = note_arrays(track)
    if len(melody) < DOUBLING_MIN_NOTES or not bars:
        return []
    ticks_per_step = max(song.ticks_per_beat // 4, 1)
    bar_steps = max((bars[0].end_tick - bars[0].start_tick) // ticks_per_step, 1)

    def keys(steps: np.ndarray, pitches: np.ndarray) -> np.ndarray:  # (step, pitch) as one integer
        return steps.astype(np.int64) * 512 + pitches.astype(np.int64) + 128

    steps = (melody.start_ticks + ticks_per_step // 2) // ticks_per_step
    found = []
    for other in song.tracks:
        if other is track or other.is_drum or not other.notes:
            continue
        notes = note_arrays(other)
        other_keys = np.unique(keys((notes.start_ticks + ticks_per_step // 2) // ticks_per_step, notes.pitches))
        best = None
        for bar_shift in range(-DOUBLING_MAX_BAR_SHIFT, DOUBLING_MAX_BAR_SHIFT + 1):
            for octaves in (0, 1, -1, 2, -2):
                twins = np.isin(keys(steps + bar_shift * bar_steps, melody.pitches + 12 * octaves), other_keys)
                share = float(twins.mean())
                if share >= DOUBLING_SHARE and (best is None or share > best.share):
                    best = Doubling(other, octaves, bar_shift, share)
        if best is not None:
            found.append(best)
    return found


# --- is there anything to edit ---------------------------------------------------------------------


def has_notes_near(
    track: MidiTrack | NoteTrack,
    bars: Sequence[Bar],
    ticks_per_beat: int,
    first_bar: int,
    last_bar: int,
    margin: int = NEARBY_BARS,
) -> bool:
    """Whether ``track`` plays (see :func:`bars_sounding`) in bars ``first_bar..last_bar`` (1-based,
    inclusive) or within ``margin`` bars of them."""
    if not bars:
        return False
    first = max(first_bar - margin, 1)
    last = min(last_bar + margin, len(bars))
    if first > last:
        return False
    return bool(bars_sounding(track, bars, ticks_per_beat)[first - 1 : last].any())


def silent_target_warning(
    song: MidiSong, track: MidiTrack, bars: Sequence[Bar], first_bar: int, last_bar: int
) -> str | None:
    """The warning for a target where ``track`` has no notes in or around the bars, else None."""
    if has_notes_near(track, bars, song.ticks_per_beat, first_bar, last_bar):
        return None
    where = f"bar {first_bar}" if first_bar == last_bar else f"bars {first_bar}-{last_bar}"
    return (
        f"track {track.number} ({track.label}) has no notes in or around {where} of {song.name}; "
        f"to edit another part, choose it with --track (its tracks are {track_list(song)})"
    )
