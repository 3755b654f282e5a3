"""Suite-wide settings.

The tests run tiny models whose work is too small to share between threads: on a busy 2-core CI
machine two spinning OpenMP threads made them 15-100x slower. One passive thread keeps the suite
fast and its timings stable; benchmarks (not tests) measure the default thread settings.
"""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
