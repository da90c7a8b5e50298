"""How many BLAS threads NumPy's matrix products use, chosen on purpose rather than by default.

On a 2-core machine that also runs a web server, OpenBLAS threads that outnumber free cores
spin and wait on each other, and small products get many times slower. The limit is process
wide (OpenBLAS has one pool), so the caller that owns the process decides: the CLI uses every
core, the app gives training jobs one thread each. `bench/threads.py` measures the choice.
"""

from __future__ import annotations

import os

from threadpoolctl import threadpool_info, threadpool_limits


def cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def set_blas_threads(n: int) -> int:
    """Limit every BLAS pool in this process to n threads (at least 1); returns n."""
    n = max(1, int(n))
    threadpool_limits(limits=n, user_api="blas")
    return n


def blas_threads() -> int:
    """The current BLAS thread count (the largest pool's, if several are loaded)."""
    pools = [p for p in threadpool_info() if p.get("user_api") == "blas"]
    return max((p["num_threads"] for p in pools), default=1)


def blas_summary() -> str:
    """One line naming the BLAS library, its kernel and thread count, for logs and benches."""
    pools = [p for p in threadpool_info() if p.get("user_api") == "blas"]
    if not pools:
        return "no BLAS found"
    p = pools[0]
    return (
        f"{p.get('internal_api')} {p.get('version')} ({p.get('architecture')}), "
        f"{p['num_threads']} thread(s)"
    )
