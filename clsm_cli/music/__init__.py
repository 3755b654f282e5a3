"""Music representation: MIDI at the edges (smf_scan, midi_read, midi_write, audio), the song types,
bars and meters, melody extraction, pure token code.

Nothing in this package imports torch.
"""
