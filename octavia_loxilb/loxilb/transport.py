"""HTTP to one LoxiLB node: pooled session, TLS, token auth, and error mapping.

One ``Transport`` per node keeps one ``requests.Session`` so calls reuse kept-alive
connections. It turns every outcome into either a parsed JSON body or a typed
``LoxiLBError`` (``errors.py``), telling "never sent" apart from "outcome unknown" so the
retry policy can decide whether a write may be sent again.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from typing import Any

import requests
from requests import adapters
from urllib3 import exceptions as urllib3_errors

from octavia_loxilb.loxilb import errors

LOG = logging.getLogger(__name__)

BASE_PATH = "/netlox/v1"

# Failures while connecting: the request never left this host.
_CONNECT_FAILURES = (
    urllib3_errors.NewConnectionError,
    urllib3_errors.ConnectTimeoutError,
    urllib3_errors.NameResolutionError,
    ConnectionRefusedError,
)


@dataclasses.dataclass(frozen=True)
class NodeConfig:
    """How to reach one LoxiLB node (``url`` is ``scheme://host:port``)."""

    url: str
    timeout_connect: float = 3.0
    timeout_read: float = 30.0
    retries: int = 3
    retry_backoff: float = 0.5
    token: str | None = None
    username: str | None = None
    password: str | None = dataclasses.field(default=None, repr=False)
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    insecure: bool = False
    pool_maxsize: int = 10

    @property
    def base_url(self) -> str:
        return self.url.rstrip("/") + BASE_PATH

    @classmethod
    def from_conf(cls, conf: Any, url: str) -> NodeConfig:
        """Node settings from the ``[loxilb]`` options (``conf/client.py``) for ``url``."""
        group = conf.loxilb
        return cls(
            url=url,
            timeout_connect=group.api_timeout_connect,
            timeout_read=group.api_timeout_read,
            retries=group.api_retries,
            retry_backoff=group.api_retry_backoff,
            token=group.api_token,
            username=group.api_username,
            password=group.api_password,
            ca_file=group.api_ca_file,
            cert_file=group.api_cert_file,
            key_file=group.api_key_file,
            insecure=group.api_insecure,
            pool_maxsize=group.api_pool_maxsize,
        )


def _root_causes(exc: BaseException) -> list[BaseException]:
    """The exception and everything it wraps (urllib3 nests the real cause deeply)."""
    seen: list[BaseException] = []
    pending: list[BaseException | None] = [exc]
    while pending:
        current = pending.pop()
        if current is None or any(current is s for s in seen):
            continue
        seen.append(current)
        pending.extend([current.__cause__, current.__context__, getattr(current, "reason", None)])
        pending.extend(a for a in current.args if isinstance(a, BaseException))
    return seen


def _never_sent(exc: requests.exceptions.ConnectionError) -> bool:
    """True when the failure happened while connecting, so LoxiLB never saw the request."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    return any(isinstance(cause, _CONNECT_FAILURES) for cause in _root_causes(exc))


class Transport:
    """Sends requests to one node and maps the answers.

    Thread-safe for concurrent calls: the session's pool is shared and the token is only
    swapped under a lock.
    """

    def __init__(self, config: NodeConfig, session: requests.Session | None = None) -> None:
        self.config = config
        self._token = config.token
        self._token_lock = threading.Lock()
        self._session = session or self._build_session(config)

    @staticmethod
    def _build_session(config: NodeConfig) -> requests.Session:
        session = requests.Session()
        adapter = adapters.HTTPAdapter(
            pool_connections=1, pool_maxsize=config.pool_maxsize, max_retries=0
        )
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        session.headers.update({"Accept": "application/json"})
        if config.insecure:
            session.verify = False
        elif config.ca_file:
            session.verify = config.ca_file
        if config.cert_file:
            session.cert = (
                (config.cert_file, config.key_file) if config.key_file else config.cert_file
            )
        session.trust_env = False
        return session

    @property
    def node(self) -> str:
        return self.config.url.rstrip("/")

    @property
    def token(self) -> str | None:
        return self._token

    @property
    def can_login(self) -> bool:
        return bool(self.config.username and self.config.password is not None)

    def close(self) -> None:
        self._session.close()

    def login(self) -> str:
        """POST /auth/login and keep the token (§9); a reply without a token is a refusal."""
        credentials = {"username": self.config.username, "password": self.config.password}
        try:
            body = self._send("POST", "/auth/login", credentials, None, authenticate=False)
        except errors.NotFound as exc:  # LoxiLB answers an unknown user with 404
            raise errors.AuthenticationError(
                "login refused: unknown user", status=exc.status, result=exc.result,
                node=self.node, method="POST", path="/auth/login") from exc
        token = body.get("token") if isinstance(body, dict) else None
        if not token:
            raise errors.AuthenticationError(
                "login refused: no token in the reply", status=200, node=self.node,
                method="POST", path="/auth/login")
        with self._token_lock:
            self._token = str(token)
        return str(token)

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        params: dict[str, Any] | None = None,
        *,
        authenticate: bool = True,
    ) -> Any:
        """Send one request and return the parsed body, or raise a ``LoxiLBError``.

        With username/password configured, a missing token is obtained first and a token
        LoxiLB rejects is renewed once (the rejected call was not applied, so resending
        it is safe).
        """
        if authenticate and self._token is None and self.can_login:
            self.login()
        try:
            return self._send(method, path, body, params, authenticate=authenticate)
        except errors.AuthenticationError:
            if not (authenticate and self.can_login):
                raise
            LOG.info("LoxiLB %s rejected the token; logging in again", self.node)
            self.login()
            return self._send(method, path, body, params, authenticate=authenticate)

    def _send(
        self,
        method: str,
        path: str,
        body: Any,
        params: dict[str, Any] | None,
        *,
        authenticate: bool,
    ) -> Any:
        headers: dict[str, str] = {}
        if authenticate and self._token:
            headers["Authorization"] = self._token
        if body is not None:
            headers["Content-Type"] = "application/json"
        where = {"node": self.node, "method": method, "path": path}
        started = time.monotonic()
        try:
            response = self._session.request(
                method,
                self.config.base_url + path,
                json=body,
                params=params,
                headers=headers,
                timeout=(self.config.timeout_connect, self.config.timeout_read),
            )
        except requests.exceptions.SSLError as exc:
            self._log(method, path, "tls-error", started)
            raise errors.TLSError(f"TLS failure: {exc}", outcome_unknown=False, **where) from exc
        except requests.exceptions.ConnectionError as exc:
            never_sent = _never_sent(exc)
            self._log(method, path, "connect-error" if never_sent else "reset", started)
            raise errors.Unavailable(
                f"connection failed: {exc}", outcome_unknown=not never_sent, **where
            ) from exc
        except requests.exceptions.Timeout as exc:
            self._log(method, path, "read-timeout", started)
            raise errors.Unavailable(
                f"no answer within {self.config.timeout_read}s", outcome_unknown=True, **where
            ) from exc
        self._log(method, path, response.status_code, started)
        parsed = _parse(response)
        error = errors.error_from_response(response.status_code, parsed, **where)
        if error is not None:
            raise error
        return parsed

    def _log(self, method: str, path: str, status: object, started: float) -> None:
        LOG.debug("LoxiLB %s %s %s -> %s in %.1f ms", self.node, method, path, status,
                  (time.monotonic() - started) * 1000.0)


def _parse(response: requests.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return response.text
