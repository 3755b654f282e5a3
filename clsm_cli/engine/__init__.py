"""Inference engines for the editing commands (see ``protocol.py``)."""
