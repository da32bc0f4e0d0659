"""The CDS API URL and key: from AWS Secrets Manager, the environment, or an rc file.

In order: the secret named by ``--cds_secret_id`` (on Glue); ``CDSAPI_URL`` /
``CDSAPI_KEY`` in the environment; the file named by ``CDSAPI_RC`` or ``~/.cdsapirc``
(``url: ...`` and ``key: ...`` lines, as cdsapi reads it); last
``ECMWF_DATASTORES_URL`` / ``ECMWF_DATASTORES_KEY`` or ``~/.ecmwfdatastoresrc``, the
ecmwf-datastores-client's own settings. The key is never logged, never put in an error
message and never written anywhere: :class:`Credentials` hides it from ``repr``.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

logger = logging.getLogger(__name__)

DEFAULT_URL = "https://cds.climate.copernicus.eu/api"


class CredentialsError(Exception):
    """No usable CDS API key (the message says where it was looked for, never the key)."""


@dataclass(frozen=True)
class Credentials:
    """URL and key of the CDS API, and where they came from."""

    url: str
    key: str = field(repr=False)
    source: str = ""

    def __post_init__(self) -> None:
        if not self.key:
            raise CredentialsError(f"{self.source}: empty CDS API key")
        if re.fullmatch(r"\d+:[0-9a-fA-F-]+", self.key):
            raise CredentialsError(
                f"{self.source}: the key has the legacy CDS form UID:KEY; the current CDS "
                "takes the personal access token of your profile page "
                "(https://cds.climate.copernicus.eu/profile) alone"
            )
        if not self.url.startswith(("http://", "https://")):
            raise CredentialsError(f"{self.source}: the CDS URL must be http(s), got {self.url!r}")


def read_rc_file(path: Path) -> dict[str, str]:
    """``key: value`` lines of a cdsapi-style rc file (``url``, ``key``, ``verify``)."""
    values = {}
    for line in path.read_text().splitlines():
        if ":" in line and not line.lstrip().startswith("#"):
            name, value = line.split(":", 1)
            values[name.strip().lower()] = value.strip()
    return values


def from_secret_string(text: str, source: str) -> Credentials:
    """Credentials from a secret: JSON ``{"url": ..., "key": ...}`` or the key alone."""
    text = text.strip()
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            raise CredentialsError(f"{source}: the secret is neither a key nor JSON") from None
        lowered = {str(k).lower(): str(v) for k, v in data.items()}
        key = lowered.get("key") or lowered.get("cdsapi_key") or ""
        url = lowered.get("url") or lowered.get("cdsapi_url") or DEFAULT_URL
        if not key:
            raise CredentialsError(f"{source}: the secret's JSON has no 'key' entry")
        return Credentials(url.rstrip("/"), key, source)
    return Credentials(DEFAULT_URL, text, source)


def from_secrets_manager(secret_id: str, endpoint_url: str | None = None) -> Credentials:
    """Read the secret ``secret_id`` (name or ARN) with ``secretsmanager:GetSecretValue``."""
    import boto3

    endpoint = (
        endpoint_url
        or os.environ.get("AWS_ENDPOINT_URL_SECRETS_MANAGER")
        or os.environ.get("AWS_ENDPOINT_URL")
    )
    client = boto3.session.Session().client("secretsmanager", endpoint_url=endpoint or None)
    source = f"secret {secret_id}"
    try:
        value = client.get_secret_value(SecretId=secret_id)
    except Exception as exc:
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
        raise CredentialsError(f"cannot read {source}: {code}") from exc
    text = value.get("SecretString")
    if text is None:
        raise CredentialsError(f"{source} has no SecretString (binary secrets are not read)")
    return from_secret_string(text, source)


def resolve(
    secret_id: str | None = None,
    environ: dict[str, str] | None = None,
    home: Path | None = None,
    endpoint_url: str | None = None,
) -> Credentials:
    """The credentials to use, from the first place that has a key.

    Raises
    ------
    CredentialsError
        Listing where a key was looked for.
    """
    if secret_id:
        return from_secrets_manager(secret_id, endpoint_url)
    env = dict(os.environ if environ is None else environ)
    home = Path(home) if home is not None else Path.home()
    if env.get("CDSAPI_KEY"):
        url = env.get("CDSAPI_URL") or DEFAULT_URL
        return Credentials(url.rstrip("/"), env["CDSAPI_KEY"].strip(), "CDSAPI_KEY")
    rc_path = Path(env["CDSAPI_RC"]).expanduser() if env.get("CDSAPI_RC") else home / ".cdsapirc"
    if rc_path.is_file():
        values = read_rc_file(rc_path)
        if values.get("key"):
            url = env.get("CDSAPI_URL") or values.get("url") or DEFAULT_URL
            return Credentials(url.rstrip("/"), values["key"], str(rc_path))
    if env.get("ECMWF_DATASTORES_KEY"):
        url = env.get("ECMWF_DATASTORES_URL") or DEFAULT_URL
        return Credentials(
            url.rstrip("/"), env["ECMWF_DATASTORES_KEY"].strip(), "ECMWF_DATASTORES_KEY"
        )
    ds_rc = (
        Path(env["ECMWF_DATASTORES_RC_FILE"]).expanduser()
        if env.get("ECMWF_DATASTORES_RC_FILE")
        else home / ".ecmwfdatastoresrc"
    )
    if ds_rc.is_file():
        values = read_rc_file(ds_rc)
        if values.get("key"):
            return Credentials(
                (values.get("url") or DEFAULT_URL).rstrip("/"), values["key"], str(ds_rc)
            )
    raise CredentialsError(
        "no CDS API key: pass --cds_secret_id (AWS Secrets Manager), or set CDSAPI_KEY "
        f"(and CDSAPI_URL), or write url/key lines to {rc_path}"
    )
