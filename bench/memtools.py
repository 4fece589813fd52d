"""Memory readings shared by the benchmarks (Linux /proc)."""

from __future__ import annotations

import os
import resource


def rss_kib() -> int:
    """Current resident set size in KiB (Linux /proc; falls back to ru_maxrss)."""
    try:
        with open("/proc/self/statm") as fh:
            pages = int(fh.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") // 1024
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def reset_peak() -> bool:
    """Reset this process's peak RSS (ru_maxrss / VmHWM) to its current RSS; False where the
    kernel does not allow it (then a peak reading includes earlier allocations)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False
