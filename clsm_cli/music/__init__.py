"""Music representation: MIDI at the edges (midi_io), bars, melody extraction, pure token code.

Nothing in this package imports torch.
"""
