"""Helpers for tests that run moto in server mode."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


def reset_moto(endpoint: str) -> None:
    """Empty every moto backend behind a server.

    moto keeps its backends per process, not per server: state left by one test's server
    (a Glue table, a bucket) would show through the next test's server otherwise.
    """
    import urllib.request

    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10):
        pass


CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """A moto server on 127.0.0.1 and the environment pointing boto3 at it; its endpoint."""
    import os

    from moto.server import ThreadedMotoServer

    from era5_contours import storage

    saved = {k: os.environ.get(k) for k in [*CREDENTIALS, "AWS_ENDPOINT_URL", "AWS_PROFILE"]}
    os.environ.update(CREDENTIALS)
    os.environ.pop("AWS_PROFILE", None)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    storage.use_endpoint(endpoint)
    reset_moto(endpoint)
    try:
        yield endpoint
    finally:
        reset_moto(endpoint)
        server.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        storage._local.s3 = storage._local.s3_exclusive = None
