"""Grid and vocabulary constants of the paper's melodico-rhythmic encoding (section 3.1).

Names carry their units. Token ids are laid out so that the music tokens (what a melody is made of
and what the decoders may emit) come first and the model-only specials come after them. The
vocabulary's hash lives here too, so that checkpoints and data manifests can be checked without
importing the music code.
"""

import hashlib
from fractions import Fraction

STEPS_PER_QUARTER = 4
STEPS_PER_BAR = 16  # a 16th-note grid over a 4/4 (or 2/2) bar
BARS_PER_WINDOW = 8
WINDOW_STEPS = BARS_PER_WINDOW * STEPS_PER_BAR  # K = 128 tokens per training window
MAX_TARGET_BARS = 4  # the paper's T: targets of 1..4 bars
TARGET_LENGTHS_STEPS = (16, 32, 48, 64)  # |x_T| choices, sampled uniformly in training
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

TOKEN_NAMES = tuple(
    [str(pitch) for pitch in range(MIN_PITCH, MAX_PITCH + 1)] + ["R", "__", "<s>", "<p>", "<pad>"]
)

assert WINDOW_STEPS == 128
assert NUM_PITCHES == 30 and len(TOKEN_NAMES) == VOCAB_SIZE
assert all(length % STEPS_PER_BAR == 0 for length in TARGET_LENGTHS_STEPS)
assert max(TARGET_LENGTHS_STEPS) == MAX_TARGET_BARS * STEPS_PER_BAR



def vocabulary_hash() -> str:
    """A stable hash of the vocabulary and grid; stored in every checkpoint and shard manifest.

    The grid part names the 4/4 grid the vocabulary was defined on; a model of another meter keeps
    the same vocabulary (its steps per bar are in its config), so the hash does not change with it.
    """
    description = "|".join(TOKEN_NAMES) + f"|steps_per_bar={STEPS_PER_BAR}|window_bars={BARS_PER_WINDOW}"
    return hashlib.sha256(description.encode("utf-8")).hexdigest()[:16]


def meter_steps_per_bar(numerator: int, denominator: int) -> int | None:
    """Steps (sixteenths) in a bar of ``numerator/denominator``; None when it is not a whole number.

    The one rule behind every meter's grid (4/4: 16, 3/4 and 6/8: 12, 2/4: 8, 9/8: 18).
    """
    steps = Fraction(numerator * 4 * STEPS_PER_QUARTER, denominator)
    return int(steps) if steps.denominator == 1 else None


# Meters the shipped encoding understands: (numerator, denominator) -> steps per bar on the 16th grid.
# 2/2 bars have the 4/4 length and share its 16-step grid (DESIGN.md section 2).
METER_STEPS_PER_BAR = {(4, 4): 16, (2, 2): 16}
DEFAULT_METER = (4, 4)  # the MIDI default when a file has no time signature

# Melody tracks: General MIDI programs 32..39 are basses; channel index 9 is percussion.
BASS_PROGRAMS = range(32, 40)
DRUM_CHANNEL = 9

# Input sanity limits: refuse absurd files before allocating memory for them.
MAX_MIDI_FILE_BYTES = 64 * 1024 * 1024
MAX_TRACKS = 1024
MAX_NOTES_PER_FILE = 2_000_000
