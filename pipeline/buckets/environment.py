"""The object stores' credentials, from each provider's usual environment: the one place that
reads them (:func:`read_environment`; ``jobs/`` calls it, tests pass their own mapping).

==========  ==================================================================================
store       variables
==========  ==================================================================================
S3          ``AWS_ACCESS_KEY_ID`` + ``AWS_SECRET_ACCESS_KEY`` (+ ``AWS_SESSION_TOKEN``), or
            ``AWS_PROFILE`` (static keys in ``~/.aws/credentials``), or a web identity
            (``AWS_WEB_IDENTITY_TOKEN_FILE`` + ``AWS_ROLE_ARN``) or container credentials
            (``AWS_CONTAINER_CREDENTIALS_RELATIVE_URI``/``_FULL_URI``); ``AWS_REGION``,
            ``AWS_ENDPOINT_URL`` (MinIO, R2, Ceph; ``http://`` allowed)
GCS         ``GOOGLE_APPLICATION_CREDENTIALS`` (a service account key, needed to sign);
            ``STORAGE_EMULATOR_HOST`` for an emulator
Azure       ``AZURE_STORAGE_CONNECTION_STRING`` (it names the endpoint too, e.g. Azurite's), or
            ``AZURE_STORAGE_ACCOUNT_NAME`` with ``AZURE_STORAGE_ACCOUNT_KEY`` or
            ``AZURE_STORAGE_SAS_TOKEN``
==========  ==================================================================================

Nothing here makes a network call, so a missing credential is found at once: ferry never
falls back to a cloud metadata endpoint that may not be there (and would hang the run).
"""

from __future__ import annotations

import configparser
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from pipeline.buckets.uris import PROVIDERS, Scheme, StoreUri
from pipeline.core.errors import MissingCredentialsError

#: Every variable ferry reads for the stores (the snapshot :func:`read_environment` takes).
VARIABLES: Final = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_PROFILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_CONFIG_FILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "STORAGE_EMULATOR_HOST",
    "AZURE_STORAGE_CONNECTION_STRING",
    "AZURE_STORAGE_ACCOUNT_NAME",
    "AZURE_STORAGE_ACCOUNT_KEY",
    "AZURE_STORAGE_SAS_TOKEN",
    "HOME",
)

#: What to set, per store, in the one line of a missing credential.
NEEDED: Final[dict[Scheme, str]] = {
    "s3": "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary "
    "keys), or AWS_PROFILE; AWS_REGION and AWS_ENDPOINT_URL say where the bucket is",
    "gs": "set GOOGLE_APPLICATION_CREDENTIALS to a service account key file",
    "az": "set AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT_NAME with "
    "AZURE_STORAGE_ACCOUNT_KEY or AZURE_STORAGE_SAS_TOKEN",
}
#: Azurite's well-known development account (``UseDevelopmentStorage=true``).
_DEV_ACCOUNT: Final = "devstoreaccount1"
_DEV_KEY: Final = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


def read_environment() -> StoreEnvironment:
    """The stores' variables of this process (the one place ferry reads them)."""
    return StoreEnvironment({name: os.environ[name] for name in VARIABLES if name in os.environ})


@dataclass(frozen=True)
class AzureAccount:
    """One Azure storage account: its name, endpoint, and an account key or a SAS token."""

    name: str
    endpoint: str
    key: str | None = field(default=None, repr=False)
    sas_token: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class StoreEnvironment:
    """A snapshot of the stores' variables; builds each store's configuration from it."""

    variables: Mapping[str, str] = field(default_factory=dict, repr=False)

    def _get(self, name: str) -> str | None:
        value = self.variables.get(name, "").strip()
        return value or None

    def require(self, uri: StoreUri, *, sign: bool) -> None:
        """Raise :class:`MissingCredentialsError` when ``uri``'s store has no credentials
        (``sign``: the run signs URLs, which GCS can only with a service account key)."""
        scheme = uri.scheme
        if scheme == "s3" and self.s3_config() is None:
            raise _missing(scheme, "no credentials")
        if scheme == "gs":
            kind = self.gcs_credential_type()
            if kind is None:
                raise _missing(scheme, "no credentials")
            if sign and kind != "service_account":
                raise _missing(
                    scheme,
                    f"GOOGLE_APPLICATION_CREDENTIALS is a {kind} key, not a "
                    "service account key, and cannot sign URLs (or use --via relay)",
                )
        if scheme == "az":
            account = self.azure_account()
            if account is None:
                raise _missing(scheme, "no credentials")
            if uri.account is not None and uri.account != account.name.lower():
                raise _missing(
                    scheme, f"the credentials are for account '{account.name}', not '{uri.account}'"
                )

    # --- S3 -----------------------------------------------------------------------------

    def s3_config(self) -> dict[str, Any] | None:
        """obstore's ``S3Config`` for the environment's credentials, or None without any."""
        config: dict[str, Any] = {
            "region": self._get("AWS_REGION") or self._get("AWS_DEFAULT_REGION") or "us-east-1"
        }
        endpoint = self._get("AWS_ENDPOINT_URL_S3") or self._get("AWS_ENDPOINT_URL")
        if endpoint:
            config["endpoint"] = endpoint
        key_id, secret = self._get("AWS_ACCESS_KEY_ID"), self._get("AWS_SECRET_ACCESS_KEY")
        if key_id and secret:
            config.update(access_key_id=key_id, secret_access_key=secret)
            token = self._get("AWS_SESSION_TOKEN")
            if token:
                config["session_token"] = token
            return config
        profile = self._profile_keys()
        if profile is not None:
            config.update(profile)
            return config
        if (self._get("AWS_WEB_IDENTITY_TOKEN_FILE") and self._get("AWS_ROLE_ARN")) or (
            self._get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
            or self._get("AWS_CONTAINER_CREDENTIALS_FULL_URI")
        ):
            return config  # obstore fetches and refreshes these itself, from the same variables
        return None

    def _profile_keys(self) -> dict[str, str] | None:
        """The static keys of ``AWS_PROFILE`` (or ``default``) in the shared credentials file."""
        profile = self._get("AWS_PROFILE")
        home = Path(self._get("HOME") or "~").expanduser()
        path = Path(self._get("AWS_SHARED_CREDENTIALS_FILE") or home / ".aws" / "credentials")
        parser = configparser.ConfigParser()
        try:
            parser.read(path, encoding="utf-8")
        except (OSError, configparser.Error):
            return None
        section = profile or "default"
        if not parser.has_section(section):
            if profile:
                raise _missing("s3", f"AWS_PROFILE '{profile}' has no keys in {path}")
            return None
        values = parser[section]
        key_id, secret = values.get("aws_access_key_id"), values.get("aws_secret_access_key")
        if not key_id or not secret:
            if profile:
                raise _missing("s3", f"AWS_PROFILE '{profile}' has no static keys in {path}")
            return None
        keys = {"access_key_id": key_id, "secret_access_key": secret}
        if values.get("aws_session_token"):
            keys["session_token"] = values["aws_session_token"]
        return keys

    # --- GCS ----------------------------------------------------------------------------

    def gcs_credential_type(self) -> str | None:
        """The ``type`` of the key file ``GOOGLE_APPLICATION_CREDENTIALS`` names, or None."""
        path = self._get("GOOGLE_APPLICATION_CREDENTIALS")
        if path is None:
            return None
        try:
            kind = json.loads(Path(path).read_text(encoding="utf-8")).get("type")
        except (OSError, ValueError, AttributeError) as exc:
            raise _missing(
                "gs",
                f"cannot read GOOGLE_APPLICATION_CREDENTIALS {path}: "
                f"{getattr(exc, 'strerror', None) or 'not a JSON key file'}",
            ) from None
        return str(kind or "unknown")

    def gcs_config(self) -> dict[str, Any]:
        """obstore's ``GCSConfig``: the key file, and an emulator's URL when one is set."""
        config: dict[str, Any] = {}
        path = self._get("GOOGLE_APPLICATION_CREDENTIALS")
        if path:
            config["application_credentials"] = path
        emulator = self._get("STORAGE_EMULATOR_HOST")
        if emulator:
            config["base_url"] = emulator if "://" in emulator else f"http://{emulator}"
        return config

    # --- Azure --------------------------------------------------------------------------

    def azure_account(self) -> AzureAccount | None:
        """The Azure account of the connection string, else of the account variables."""
        text = self._get("AZURE_STORAGE_CONNECTION_STRING")
        if text:
            return _from_connection_string(text)
        name = self._get("AZURE_STORAGE_ACCOUNT_NAME")
        key, sas = self._get("AZURE_STORAGE_ACCOUNT_KEY"), self._get("AZURE_STORAGE_SAS_TOKEN")
        if not name or not (key or sas):
            return None
        endpoint = f"https://{name}.blob.core.windows.net"
        return AzureAccount(name, endpoint, key=key, sas_token=sas.lstrip("?") if sas else None)


def _from_connection_string(text: str) -> AzureAccount:
    parts = dict(
        (name.strip(), value.strip())
        for name, _, value in (item.partition("=") for item in text.split(";") if item.strip())
    )
    if parts.get("UseDevelopmentStorage", "").lower() == "true":
        parts.setdefault("AccountName", _DEV_ACCOUNT)
        parts.setdefault("AccountKey", _DEV_KEY)
        parts.setdefault("BlobEndpoint", f"http://127.0.0.1:10000/{_DEV_ACCOUNT}")
    name = parts.get("AccountName") or _account_of(parts.get("BlobEndpoint", ""))
    key, sas = parts.get("AccountKey"), parts.get("SharedAccessSignature")
    if not name or not (key or sas):
        raise _missing(
            "az",
            "AZURE_STORAGE_CONNECTION_STRING has no AccountName with "
            "AccountKey or SharedAccessSignature",
        )
    protocol = parts.get("DefaultEndpointsProtocol", "https")
    suffix = parts.get("EndpointSuffix", "core.windows.net")
    endpoint = parts.get("BlobEndpoint") or f"{protocol}://{name}.blob.{suffix}"
    return AzureAccount(
        name, endpoint.rstrip("/"), key=key, sas_token=sas.lstrip("?") if sas else None
    )


def _account_of(endpoint: str) -> str | None:
    """The account a blob endpoint names: ``https://ACCOUNT.blob.core.windows.net``, or the
    emulators' ``http://127.0.0.1:10000/ACCOUNT`` (SAS connection strings often omit it)."""
    parts = urlsplit(endpoint)
    host = parts.hostname or ""
    if ".blob." in host:
        return host.split(".", 1)[0]
    return parts.path.strip("/").split("/")[-1] or None


def _missing(scheme: Scheme, reason: str) -> MissingCredentialsError:
    return MissingCredentialsError(
        f"{scheme}:// sources ({PROVIDERS[scheme]}): {reason}: {NEEDED[scheme]}"
    )
