"""The exceptions cae raises on purpose.

A `CaeError` is a user-facing failure: the CLI prints it as one line and exits non-zero.
`Interrupted` is a stop signal, not an error: it passes every `except Exception`.
Anything else escaping the CLI is a bug and keeps its traceback.
"""

import signal

__all__ = [
    "CaeError",
    "ConfigError",
    "DataError",
    "FileFormatError",
    "HomeError",
    "Interrupted",
    "PanelError",
    "ValidationError",
]


class CaeError(Exception):
    """Base class for errors a user can act on."""


class ConfigError(CaeError):
    """A setting or command-line option is invalid."""


class DataError(CaeError):
    """Input data breaks a rule; the message names the file, the row and the rule."""


class FileFormatError(DataError):
    """A file cannot be read at all: wrong format, missing required columns, not text."""


class ValidationError(DataError):
    """Rows fail a schema rule and the caller asked for all-or-nothing."""


class PanelError(DataError):
    """A characteristics panel is unusable for modelling (empty, unbalanced beyond repair, ...)."""


class HomeError(CaeError):
    """The home folder or a file in it cannot be created or written, or is damaged."""


class Interrupted(BaseException):
    """The `cae` command received SIGINT (Ctrl-C) or SIGTERM; raised in the main thread.

    A BaseException, so only `except BaseException` cleanup (failing a run, rolling back a
    transaction) sees it. Not a KeyboardInterrupt: click would turn that into "Aborted!".
    """

    def __init__(self, number: int) -> None:
        super().__init__(f"interrupted by {signal.Signals(number).name}")
        self.signal = number
