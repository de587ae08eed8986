"""Resident memory of this process, for the soak scripts."""

from __future__ import annotations

import os


def rss_bytes() -> int:
    """Current resident set size (Linux /proc; elsewhere the peak, which can only overstate growth)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
