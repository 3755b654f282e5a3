"""Grid and vocabulary constants of the paper's melodico-rhythmic encoding (section 3.1).

Names carry their units. Token ids are laid out so that the music tokens (what a melody is made of
and what the decoders may emit) come first and the model-only specials come after them. The
vocabulary's hash lives here too, so that checkpoints and data manifests can be checked without
importing the music code.
"""

import hashlib

# The grid and the window rule; clsm_cli/timebase.py owns every conversion built on them. The 4/4
# figures below are the paper's case, the defaults of configs and benchmarks (other meters derive
# theirs through timebase).
STEPS_PER_QUARTER = 4  # tokens per quarter note on every grid (16th notes, or a triplet marker and 3 triplets)
BARS_PER_WINDOW = 8
MAX_TARGET_BARS = 4  # the paper's T: targets of 1..4 bars
STEPS_PER_BAR = 4 * STEPS_PER_QUARTER  # a 4/4 (or 2/2) bar
WINDOW_STEPS = BARS_PER_WINDOW * STEPS_PER_BAR  # K = 128 tokens per training window in 4/4
TARGET_LENGTHS_STEPS = tuple(bars * STEPS_PER_BAR for bars in range(1, MAX_TARGET_BARS + 1))  # |x_T| in 4/4
TARGET_START_STRIDE_STEPS = STEPS_PER_BAR  # |x_CL| is a multiple of one bar

MIN_PITCH = 55  # lowest MIDI pitch with a token (G3)
MAX_PITCH = 84  # highest MIDI pitch with a token (C6)
NUM_PITCHES = MAX_PITCH - MIN_PITCH + 1  # 30
TRANSPOSITIONS_SEMITONES = tuple(range(-6, 6))  # data augmentation shifts, -6..+5

# Token ids.
FIRST_PITCH_TOKEN = 0  # token id of MIN_PITCH; pitch p has id p - MIN_PITCH
REST_TOKEN = NUM_PITCHES  # 30: "R", a rest starts
HOLD_TOKEN = NUM_PITCHES + 1  # 31: "__", the previous note or rest continues
NUM_MUSIC_TOKENS = NUM_PITCHES + 2  # 32: what melodies (and decoder outputs) are made of
START_TOKEN = NUM_MUSIC_TOKENS  # 32: "<s>", decoder start symbol
PLACEHOLDER_TOKEN = NUM_MUSIC_TOKENS + 1  # 33: "<p>", positional constraint in the prior's input
PAD_TOKEN = NUM_MUSIC_TOKENS + 2  # 34: padding, never trained on
VOCAB_SIZE = NUM_MUSIC_TOKENS + 3  # 35
# The triplet grid's vocabulary adds one token after these (so every id above keeps its meaning):
TRIPLET_TOKEN = VOCAB_SIZE  # 35: "3:", this quarter note is a triplet (marker, then 3 triplet steps)
TRIPLET_VOCAB_SIZE = VOCAB_SIZE + 1  # 36

TOKEN_NAMES = tuple(
    [str(pitch) for pitch in range(MIN_PITCH, MAX_PITCH + 1)] + ["R", "__", "<s>", "<p>", "<pad>"]
)

assert WINDOW_STEPS == 128
assert NUM_PITCHES == 30 and len(TOKEN_NAMES) == VOCAB_SIZE
assert all(length % STEPS_PER_BAR == 0 for length in TARGET_LENGTHS_STEPS)
assert TARGET_LENGTHS_STEPS == (16, 32, 48, 64)
TRIPLET_TOKEN_NAME = "3:"


def vocabulary_hash(grid_encoding: str = "16th") -> str:
    """A stable hash of the vocabulary and grid; stored in every checkpoint and shard manifest.

    The grid part names the 4/4 grid the vocabulary was defined on; a model of another meter keeps
    the same vocabulary (its steps per bar are in its config), so the hash does not change with it.
    The triplet grid (``grid_encoding="triplet"``) is another vocabulary, with another hash; the
    16th grid's hash is the one every model before the triplet grid recorded.
    """
    description = "|".join(TOKEN_NAMES) + f"|steps_per_bar={STEPS_PER_BAR}|window_bars={BARS_PER_WINDOW}"
    if grid_encoding != "16th":
        description += f"|{TRIPLET_TOKEN_NAME}|encoding={grid_encoding}"
    return hashlib.sha256(description.encode("utf-8")).hexdigest()[:16]


# Melody tracks: General MIDI programs 32..39 are basses; channel index 9 is percussion.
BASS_PROGRAMS = range(32, 40)
DRUM_CHANNEL = 9

# Input sanity limits: refuse absurd files before allocating memory for them.
MAX_MIDI_FILE_BYTES = 64 * 1024 * 1024
MAX_TRACKS = 1024
MAX_NOTES_PER_FILE = 2_000_000
