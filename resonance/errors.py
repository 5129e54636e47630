"""One root exception per concern; the CLI turns :class:`UsageError` into one line and exit 2."""


class ResonanceError(Exception):
    """Root of every error Resonance raises on purpose."""


class UsageError(ResonanceError):
    """Bad user input (file, column, flag, setting); the message names the culprit."""
