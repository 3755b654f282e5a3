"""What an audition file (``--combined``) must be, read back with mido: shared by the writer's and the
commands' tests (a helper module, not a test module)."""

from __future__ import annotations

import mido


def absolute(track) -> list[tuple[int, object]]:
    now, events = 0, []
    for message in track:
        now += message.time
        events.append((now, message))
    return events


def audition_structure(path) -> dict:
    """Markers, each version track's sounding span and channel, and the other tracks' notes per pass.

    Asserts the layout's promises on the way: one marker per pass, one named track per version
    (in marker order), each on its own channel, sounding only inside its own pass, passes that do
    not overlap, and the other tracks playing under every pass.
    """
    midi = mido.MidiFile(path)
    markers = [(tick, m.text) for tick, m in absolute(midi.tracks[0]) if m.type == "marker"]
    assert markers, "no markers"
    names = [text for _, text in markers]
    tracks = {}
    for chunk in midi.tracks[1:]:
        name = next((m.name for m in chunk if m.type == "track_name"), None)
        notes = [(tick, m) for tick, m in absolute(chunk) if m.type in ("note_on", "note_off")]
        tracks[name] = notes
    starts = [tick for tick, _ in markers]
    stride = starts[1] - starts[0] if len(starts) > 1 else None
    spans = {}
    for number, name in enumerate(names):
        notes = tracks[name]
        assert notes, f"{name} has no notes"
        first, last = min(t for t, _ in notes), max(t for t, _ in notes)
        assert first >= starts[number], f"{name} sounds before its marker"
        if number + 1 < len(starts):
            assert last <= starts[number + 1], f"{name} sounds into the next pass"
        spans[name] = (first, last, {m.channel for _, m in notes})
    channels = [next(iter(spans[name][2])) for name in names]
    assert all(len(spans[name][2]) == 1 for name in names)
    others = {name: notes for name, notes in tracks.items() if name not in names}
    under = {}
    for name, notes in others.items():
        onsets = [tick for tick, m in notes if m.type == "note_on" and m.velocity > 0]
        under[name] = [sum(1 for tick in onsets if start <= tick < start + (stride or 10**9)) for start in starts]
    return {"markers": markers, "spans": spans, "channels": channels, "others": under, "stride": stride}
