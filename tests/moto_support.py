"""Helpers for tests that run moto in server mode."""

from __future__ import annotations


def reset_moto(endpoint: str) -> None:
    """Empty every moto backend behind a server.

    moto keeps its backends per process, not per server: state left by one test's server
    (a Glue table, a bucket) would show through the next test's server otherwise.
    """
    import urllib.request

    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10):
        pass
