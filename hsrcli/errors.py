"""The project-wide error types (no dependencies: every layer may import them).

Everything in :mod:`hsrcli` that detects *bad input* (a missing file, a malformed
header, a band mismatch, a bad option value...) raises :class:`HsrInputError` with
a one-line, user-facing message. The command line turns it into
``hsr: error: <message>`` on stderr and exit code 2, without a traceback
(:func:`hsrcli.cli.errors.reports_bad_input`). Programming errors stay ordinary
exceptions (a traceback and exit 1 is right for them).
"""

from __future__ import annotations


class HsrInputError(Exception):
    """Bad input from the user: reported as one line and exit code 2."""


class OutputExistsError(HsrInputError):
    """The output file exists and ``overwrite`` was not requested."""


class PeerFailed(Exception):
    """Under ``torchrun``: another rank failed and reported why; this rank stops (exit 2) in silence."""
