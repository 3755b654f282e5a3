"""Edits of MIDI files with a CLSM: the library under ``clsm infill / interpolate / vary``.

One input file goes through these modules, in this order (DESIGN.md section 5):

* ``prepare.py``: read the file, find its bars, check the bar range, choose the melody track,
  quantize it and reduce it to one line (shared with ``clsm show``); check the model covers the
  meter of every bar it will see;
* ``window.py``: the model's window around the target (its bars, octave shift, tokens);
* ``generate.py``: the three operations on one window (infill, interpolate, vary) and the latent
  of existing bars, through an inference engine;
* ``splice.py``: generated tokens back to notes at the file's pitch, spliced into the line;
* ``verbs.py``: one file through the whole path, per verb; ``outputs.py`` writes each output set
  (all of it or none of it);
* ``endpoints.py``: the bars an interpolation starts or ends on (or a variation centres on), in
  the decoding window's frame; ``distances.py``: the pitch edit distance between versions;
* ``provenance.py``: what each output records about itself, and reading it back; ``runs.py``: the
  latest infill or vary run in a folder, which ``clsm interpolate`` with no file continues from;
* ``options.py``: what a command asks (:class:`EditOptions`) and what one file produced
  (:class:`FileResult`, its ``--json`` record).

Nothing here prints; the commands in ``clsm_cli/cli/`` render the results.
"""
