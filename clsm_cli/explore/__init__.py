"""`clsm explore`: a terminal app over one loaded model (the `explore` extra)."""
