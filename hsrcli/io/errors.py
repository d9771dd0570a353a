"""Error types raised by the I/O layer for bad user input.

Everything in :mod:`hsrcli` that detects *bad input* (a missing file, a malformed
header, a band mismatch...) raises :class:`HsrInputError` with a one-line,
user-facing message. The command line turns it into ``hsr: error: <message>`` on
stderr and exit code 2, without a traceback.
"""

from __future__ import annotations


class HsrInputError(ValueError):
    """Bad input from the user: reported as one line and exit code 2."""


class OutputExistsError(HsrInputError):
    """The output file exists and ``overwrite`` was not requested."""
