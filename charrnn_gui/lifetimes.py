"""Threads and engines end with their owner: a window destroyed without being closed (garbage-collected, deleted)
stops them."""

from __future__ import annotations

from .threads import running_threads


def stop_with(owner, *parts) -> None:
    """When owner (a QObject) is destroyed, shut each part down: parts are QObjects with an idempotent
    shutdown() that stops and joins their threads and ends their engine process (a Session, a RunsLibrary).

    The hook holds the parts, never the owner, and runs while the owner's C++ destructor is under way, with the
    parts (its children) still alive: their signals are blocked first, so nothing reaches the half-destroyed
    owner's slots. A closed window has shut them down already; then this does nothing.
    """
    def shut_down(*_):
        engines = [part for part in parts if getattr(part, "client", None) is not None]
        if not running_threads() and not engines:  # closed before, or the interpreter's exit has ended them
            return
        for part in parts:
            part.blockSignals(True)
            part.shutdown()

    owner.destroyed.connect(shut_down)
