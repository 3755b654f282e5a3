"""The command line: one Typer app (app.py) and one module per command group.

Set before numpy is first imported (the console script imports this package before any command):
the numpy engine's matrices are a few hundred rows wide, so waking BLAS threads costs more than
they save, and on a machine whose cores are busy (a DAW, a build) two threads made a 16-candidate
infill 50x slower. One BLAS thread; torch's own threads (training) are not affected.
"""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
