"""Errors that reach the operator as one sentence, never as a traceback; each kind carries the title the TUI
gives its message (an instance may say more precisely what happened, e.g. that nothing was written)."""


class WorkbenchError(Exception):
    """A problem the operator can act on; str() is the whole message."""

    exit_code = 2
    title = "The step could not be done"

    def __init__(self, message: str = "", title: str | None = None) -> None:
        super().__init__(message)
        if title is not None:
            self.title = title


class ImageError(WorkbenchError):
    """The image cannot be opened or read (missing, locked, encrypted, corrupt...)."""

    title = "The image cannot be opened"


class UsageError(WorkbenchError):
    """The arguments are wrong."""

    title = "That cannot be done as asked"


class GuestError(WorkbenchError):
    """The libguestfs appliance could not start or could not read the guest."""

    title = "The guest could not be read"
