"""Domain errors. Each carries the exit code of DESIGN.md section 5 and a one-sentence message.

The CLI turns any ClsmError into its message on stderr and its exit code; anything else is a bug
(exit 1).
"""

EXIT_OK = 0
EXIT_BUG = 1
EXIT_USAGE = 2
EXIT_INPUT = 3
EXIT_MODEL = 4
EXIT_OUTPUT = 5


class ClsmError(Exception):
    """Base class: a problem we can explain to the user in one sentence."""

    exit_code = EXIT_BUG

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class UsageError(ClsmError):
    """Malformed or contradictory options (e.g. reversed --bars)."""

    exit_code = EXIT_USAGE


class InputFileError(ClsmError):
    """The input file is unreadable, corrupt, empty, in an unsupported meter, or too short."""

    exit_code = EXIT_INPUT


class ModelError(ClsmError):
    """A model or its weights are missing, broken or do not fit the request."""

    exit_code = EXIT_MODEL


class OutputError(ClsmError):
    """An output cannot be written (exists without --force, unwritable directory)."""

    exit_code = EXIT_OUTPUT
