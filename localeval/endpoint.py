"""An OpenAI-compatible endpoint: where load and evaluations are sent. Bench and eval talk
to an :class:`Endpoint` and never import the server launcher, so an existing deployment
(``--endpoint URL``) and a server localeval started look the same to them."""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from localeval.errors import ConfigError, EndpointError

ENV_API_KEY = "LOCALEVAL_API_KEY"
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def api_key_from_env(name: str | None) -> str | None:
    """The key held by environment variable ``name`` (``--api-key-env``, a recipe's
    ``api.api_key_env``); None without a name (then ``$LOCALEVAL_API_KEY`` is used).
    ConfigError (exit 2) for a name that is not a variable name, or a variable that is
    unset or empty. The key itself is never shown."""
    if name is None:
        return None
    if not _ENV_NAME.fullmatch(name):
        raise ConfigError(
            "--api-key-env: not an environment variable name (the value is not shown)",
            hint="give the NAME of the variable that holds the key (e.g. OPENAI_API_KEY), "
            "never the key itself",
        )
    value = os.environ.get(name, "").strip()
    if not value:
        raise ConfigError(
            f"--api-key-env {name}: ${name} is not set or is empty",
            hint=f"export {name}=... in the shell that runs localeval",
        )
    return value


def is_loopback_host(host: str) -> bool:
    """True for 'localhost', 127.0.0.0/8 and ::1."""
    if host.strip("[]") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Endpoint:
    """Base URL (``http://host:port``, no ``/v1``), the served model name and an optional
    API key (read from ``$LOCALEVAL_API_KEY`` when not given)."""

    base_url: str
    model: str
    api_key: str | None = None

    @classmethod
    def from_url(cls, url: str, model: str | None = None, api_key: str | None = None) -> Endpoint:
        """Normalize a user-given URL (with or without ``/v1``) into an Endpoint. When
        ``model`` is None the server's first listed model is used."""
        parts = urlsplit(url if "://" in url else f"http://{url}")
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise EndpointError(f"not an http(s) endpoint URL: {url!r}")
        path = parts.path.rstrip("/")
        if path.endswith("/v1"):
            path = path[: -len("/v1")]
        base = f"{parts.scheme}://{parts.netloc}{path}"
        key = api_key if api_key is not None else os.environ.get(ENV_API_KEY)
        endpoint = cls(base_url=base, model=model or "", api_key=key)
        if not model:
            models = endpoint.list_models()
            if not models:
                raise EndpointError(f"{base}/v1/models lists no model; pass --model")
            endpoint = cls(base_url=base, model=str(models[0]["id"]), api_key=key)
        return endpoint

    @property
    def v1(self) -> str:
        return f"{self.base_url}/v1"

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def list_models(self, timeout_s: float = 10.0) -> list[dict[str, Any]]:
        """The server's ``/v1/models`` entries (each a dict with ``id`` and, on vLLM,
        ``max_model_len``)."""
        try:
            resp = httpx.get(f"{self.v1}/models", headers=self.headers(), timeout=timeout_s)
        except httpx.HTTPError as exc:
            raise EndpointError(
                f"cannot reach {self.v1}/models: {exc}",
                hint="check the URL and that the server is up (curl URL/v1/models)",
            ) from exc
        if resp.status_code != 200:
            text = resp.text
            if self.api_key:  # some APIs quote the key they refused
                text = text.replace(self.api_key, "***")
            text = text[:200]
            hint = None
            if resp.status_code in (401, 403):
                hint = (
                    f"the key was refused: set ${ENV_API_KEY}, or name the variable that holds "
                    "it with --api-key-env VAR"
                )
            raise EndpointError(
                f"{self.v1}/models answered HTTP {resp.status_code}: {text}", hint=hint
            )
        data = resp.json().get("data", [])
        return [m for m in data if isinstance(m, dict)]

    @property
    def is_local(self) -> bool:
        """True when the endpoint's host is a loopback address (this machine)."""
        return is_loopback_host(urlsplit(self.base_url).hostname or "")

    def model_entry(self, timeout_s: float = 10.0) -> dict[str, Any]:
        """The ``/v1/models`` entry of this endpoint's model (on vLLM it carries
        ``max_model_len`` and ``root``). Raises EndpointError when the endpoint cannot be
        reached or does not serve the model, naming the models it does serve."""
        models = self.list_models(timeout_s)
        for entry in models:
            if entry.get("id") == self.model:
                return entry
        served = ", ".join(str(m.get("id")) for m in models) or "(none)"
        raise EndpointError(
            f"model {self.model!r} is not served at {self.v1}",
            hint=f"served models: {served}; pass one of them with --model",
        )

    def max_model_len(self, timeout_s: float = 10.0) -> int | None:
        """The served model's context length as ``/v1/models`` reports it (vLLM does), or None."""
        value = self.model_entry(timeout_s).get("max_model_len")
        return int(value) if value is not None else None

    def server_version(self, timeout_s: float = 5.0) -> str | None:
        """The server's ``/version`` (vLLM answers its version), or None."""
        try:
            resp = httpx.get(f"{self.base_url}/version", headers=self.headers(), timeout=timeout_s)
            if resp.status_code == 200:
                value = resp.json().get("version")
                return str(value) if value is not None else None
        except (httpx.HTTPError, ValueError, AttributeError):
            pass
        return None
