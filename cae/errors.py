"""The exceptions cae raises on purpose.

A `CaeError` is a user-facing failure: the CLI prints it as one line and exits non-zero.
Anything else escaping the CLI is a bug and keeps its traceback.
"""

__all__ = [
    "CaeError",
    "ConfigError",
    "DataError",
    "FileFormatError",
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
