"""How many threads the BLAS library under NumPy may use (OpenBLAS, MKL, BLIS, ...).

The engine's matmuls are small (one time step at a time), so BLAS threads mostly wait for each other;
on a 2-core machine with the GUI thread beside the worker, a second BLAS thread gains nothing on
average and, whenever the other core is busy, stalls a training iteration for milliseconds (measured
in bench/: see bench/README.md). The CLI and the GUI therefore run the engine with one BLAS thread
unless told otherwise.

    from core.threads import limit_blas_threads
    with limit_blas_threads():          # 1 thread inside the block
        ...
    limit_blas_threads(2)               # or as a plain call: the limit stays until .restore()
    limit_blas_threads(None)            # no limit: the library's own default (usually one per core)

The setting: the environment variable CHARRNN_BLAS_THREADS ("1", "2", ..., or "0"/"auto" for no
limit) overrides the default through blas_threads_setting(). This module never starts a thread.
"""

from __future__ import annotations

import os

DEFAULT_BLAS_THREADS = 1  # what the CLI and the GUI use unless set otherwise
ENV_VAR = "CHARRNN_BLAS_THREADS"


class BlasThreadLimit:
    """An applied limit; a context manager that restores the previous limits on exit (or on restore())."""

    def __init__(self, n: int | None):
        import numpy  # noqa: F401  (loads the BLAS library, so that there is something to limit)
        from threadpoolctl import threadpool_limits

        self.threads = n  # the limit asked for; None means the library's own default
        # Entered as threadpoolctl's own context: with a pthreads OpenBLAS, threadpoolctl lets only one
        # "controlling" thread set the count and forgets it only when such a context exits, so a bare
        # restore_original_limits() would leave this thread in control and every other thread's limit
        # (the next training thread's) silently ignored.
        self._limiter = threadpool_limits(limits=n, user_api="blas").__enter__()
        self._restored = False

    def restore(self) -> None:
        """Put back the limits that were in force before this one (call it from the thread that set them)."""
        if not self._restored:
            self._restored = True
            self._limiter.__exit__(None, None, None)

    def __enter__(self) -> "BlasThreadLimit":
        return self

    def __exit__(self, *exc) -> None:
        self.restore()


def limit_blas_threads(n: int | None = DEFAULT_BLAS_THREADS) -> BlasThreadLimit:
    """Limit BLAS to n threads now (None: no limit); use the result as a context manager to scope it."""
    if n is not None:
        n = int(n)
        if n < 1:
            raise ValueError("BLAS threads must be at least 1 (or None for no limit)")
    return BlasThreadLimit(n)


def blas_threads_setting(value: str | int | None = None) -> int | None:
    """The thread count to use: value if given, else $CHARRNN_BLAS_THREADS, else DEFAULT_BLAS_THREADS.

    "0", "auto" or "none" mean no limit (None). Anything else that is not a positive integer raises
    ValueError with a one-line reason.
    """
    raw = os.environ.get(ENV_VAR, "") if value is None else value
    if raw == "" or raw is None:
        return DEFAULT_BLAS_THREADS
    text = str(raw).strip().lower()
    if text in ("0", "auto", "none"):
        return None
    try:
        n = int(text)
    except ValueError:
        raise ValueError(f"{ENV_VAR} must be a positive number of threads or 'auto', not {raw!r}") from None
    if n < 1:
        raise ValueError(f"{ENV_VAR} must be a positive number of threads or 'auto', not {raw!r}")
    return n


def blas_threads_in_use() -> list[dict]:
    """Each loaded BLAS library with its current thread count (for reports)."""
    import numpy  # noqa: F401
    from threadpoolctl import threadpool_info

    return [{"library": i.get("internal_api"), "version": i.get("version"), "threads": i.get("num_threads")}
            for i in threadpool_info() if i.get("user_api") == "blas"]
