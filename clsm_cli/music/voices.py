"""The top voice of a part with chords: the one rule for what is melody and what accompanies it.

At each onset the highest sounding note is the melody: a note belongs to the top voice when no
other note sounding at its onset is higher. Notes that start together form a chord whose highest
note is the top voice's; a note that starts while a higher one is still held is accompaniment (an
inner voice or a left-hand note under a held melody note), also when it outlasts that note. One
exception keeps a sung line whole: a higher note that ends within one step of the onset, where the
new note goes on longer, is a legato overlap, and the new note continues the line. Notes of the
same pitch starting together are both in the top voice (a doubled note).

The rule works on the song step grid (quantized onsets and ends, see ``melody.quantize_track``), so
a human-played chord whose notes start a few ticks apart is still one chord, and a legato overlap
that rounds away is no overlap.

:func:`top_voice_mask` gives the rule as a mask over notes; :func:`top_line` turns the top voice
into one monophonic line, a later onset cutting the note before it short.
"""

from __future__ import annotations

from typing import Sequence

from clsm_cli.music.tokens import StepNote

LEGATO_STEPS = 1  # a higher note ending this soon after a lower onset is a legato overlap, not a chord


def top_voice_mask(start_steps: Sequence[int], end_steps: Sequence[int], pitches: Sequence[int]) -> list[bool]:
    """For each note (in any order), whether it belongs to the top voice: no other note that sounds
    at its onset is higher, leaving out a higher note that ends within ``LEGATO_STEPS`` of that onset
    when this note outlasts it (a legato overlap: the line moves on)."""
    count = len(pitches)
    order = sorted(range(count), key=lambda i: (start_steps[i], -pitches[i]))
    is_top = [False] * count
    sounding: list[int] = []  # notes started before the current onset that may still sound
    position = 0
    while position < count:
        onset = start_steps[order[position]]
        group_end = position
        while group_end < count and start_steps[order[group_end]] == onset:
            group_end += 1
        sounding = [i for i in sounding if end_steps[i] > onset]
        # Held notes that go on past a legato overlap block every lower note; those about to end
        # block only a lower note that ends no later than they do.
        held_on = max((pitches[i] for i in sounding if end_steps[i] > onset + LEGATO_STEPS), default=-1)
        ending = [i for i in sounding if end_steps[i] <= onset + LEGATO_STEPS]
        highest_here = pitches[order[position]]  # the group is sorted highest first
        for index in order[position:group_end]:
            pitch = pitches[index]
            is_top[index] = (
                pitch == highest_here
                and pitch >= held_on
                and all(pitch >= pitches[i] or end_steps[index] > end_steps[i] for i in ending)
            )
        sounding.extend(order[position:group_end])
        position = group_end
    return is_top


def top_line(notes: Sequence[StepNote]) -> list[StepNote]:
    """The top voice of ``notes`` (see :func:`top_voice_mask`) as one line: a doubled note is kept
    once, and a note still sounding when the next top-voice note starts ends there.
    ``tied_from_before`` stays on the notes that remain."""
    mask = top_voice_mask([n.start_step for n in notes], [n.end_step for n in notes], [n.pitch for n in notes])
    top = sorted((note for note, keep in zip(notes, mask) if keep), key=lambda n: (n.start_step, -n.end_step))
    line: list[StepNote] = []
    for note in top:
        if line and note.start_step == line[-1].start_step:
            continue  # the same pitch doubled: the longest stays
        if line and note.start_step < line[-1].end_step:
            previous = line[-1]
            line[-1] = StepNote(previous.start_step, note.start_step, previous.pitch, previous.tied_from_before)
        line.append(note)
    return line
