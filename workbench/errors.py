"""Errors that reach the operator as one sentence, never as a traceback."""


class WorkbenchError(Exception):
    """A problem the operator can act on; str() is the whole message."""

    exit_code = 2


class ImageError(WorkbenchError):
    """The image cannot be opened or read (missing, locked, encrypted, corrupt...)."""


class UsageError(WorkbenchError):
    """The arguments are wrong."""


class GuestError(WorkbenchError):
    """The libguestfs appliance could not start or could not read the guest."""
