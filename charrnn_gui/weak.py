"""Weak references to bound methods: callbacks that do not keep a widget alive."""

from __future__ import annotations

import weakref


def weak_call(method):
    """A callable that calls a bound method without keeping its object alive (None once it is gone)."""
    ref = weakref.WeakMethod(method)

    def call():
        bound = ref()
        return bound() if bound is not None else None

    return call
