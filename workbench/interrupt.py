"""^C and SIGTERM: how the workbench stops when asked, without leaving a half-done step behind.

SIGTERM unwinds like ^C (Terminated is a KeyboardInterrupt) so that partial outputs are
removed on the way out; the CLI exits 130 for ^C and 143 for SIGTERM. Around a step that
must not be cut in the middle (one write into an image), deferred() holds both signals
and raises the one that arrived as soon as the step is done.
"""

from __future__ import annotations

import signal
import threading


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like ^C."""

    exit_code = 143


def exit_code(e: KeyboardInterrupt) -> int:
    return getattr(e, "exit_code", 130)


def raise_terminated(signum, frame) -> None:
    raise Terminated()


class deferred:
    """with deferred(): a step that SIGINT and SIGTERM wait for. Outside the main thread it does nothing (signals
    are only delivered there)."""

    def __enter__(self) -> "deferred":
        self.got: int | None = None
        self.active = threading.current_thread() is threading.main_thread()
        if self.active:
            self.old = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
            for sig in self.old:
                signal.signal(sig, self._hold)
        return self

    def _hold(self, signum, frame) -> None:
        self.got = self.got or signum

    def __exit__(self, *exc) -> None:
        if not self.active:
            return
        for sig, handler in self.old.items():
            signal.signal(sig, handler)
        if self.got is not None and exc[0] is None:
            raise Terminated() if self.got == signal.SIGTERM else KeyboardInterrupt()
