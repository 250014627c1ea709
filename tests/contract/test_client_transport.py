"""Transport failure classes against real loopback sockets that misbehave on purpose.

These are the failures no HTTP server (emulator included) produces on request: a port with
no listener, a peer that reads the request and hangs up, a peer that never answers.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

import pytest

from octavia_loxilb.loxilb import errors, models
from octavia_loxilb.loxilb.client import LoxiLBClient
from octavia_loxilb.loxilb.transport import NodeConfig, Transport


class RudePeer:
    """Accepts connections, reads one request, then hangs up (or, with ``hang``, waits)."""

    def __init__(self, hang: bool = False) -> None:
        self.requests: list[bytes] = []
        self._hang = hang
        self._release = threading.Event()
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(8)
        self.port = self._sock.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            with conn:
                self.requests.append(conn.recv(65536))
                if self._hang:
                    self._release.wait(5)

    def close(self) -> None:
        self._release.set()
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        self._sock.close()
        self._thread.join(5)


@pytest.fixture
def rude_peer() -> Iterator[RudePeer]:
    peer = RudePeer()
    yield peer
    peer.close()


@pytest.fixture
def silent_peer() -> Iterator[RudePeer]:
    peer = RudePeer(hang=True)
    yield peer
    peer.close()


def _unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _client(port: int, retries: int = 2, read: float = 5.0) -> LoxiLBClient:
    sleeps: list[float] = []
    return LoxiLBClient(
        NodeConfig(f"http://127.0.0.1:{port}", retries=retries, retry_backoff=0.01,
                   timeout_read=read),
        sleep=sleeps.append,
    )


RULE = models.LoadBalancerRule(
    models.ServiceArguments("10.0.0.100", 80, "tcp"), (models.Endpoint("10.0.1.10", 8080),))


def test_refused_connection_is_unavailable_and_known_unsent() -> None:
    transport = Transport(NodeConfig(f"http://127.0.0.1:{_unused_port()}"))
    with pytest.raises(errors.Unavailable) as raised:
        transport.request("POST", "/config/loadbalancer", RULE.to_wire())
    assert raised.value.outcome_unknown is False
    assert raised.value.method == "POST" and raised.value.path == "/config/loadbalancer"


def test_hang_up_after_the_request_is_an_unknown_outcome(rude_peer: RudePeer) -> None:
    transport = Transport(NodeConfig(f"http://127.0.0.1:{rude_peer.port}"))
    with pytest.raises(errors.Unavailable) as raised:
        transport.request("POST", "/config/loadbalancer", RULE.to_wire())
    assert raised.value.outcome_unknown is True
    assert rude_peer.requests[0].startswith(b"POST /netlox/v1/config/loadbalancer HTTP/1.1")


def test_read_timeout_is_an_unknown_outcome(silent_peer: RudePeer) -> None:
    transport = Transport(NodeConfig(f"http://127.0.0.1:{silent_peer.port}", timeout_read=0.2))
    with pytest.raises(errors.Unavailable) as raised:
        transport.request("GET", "/config/loadbalancer/all")
    assert raised.value.outcome_unknown is True


def test_reads_are_retried_on_hang_ups(rude_peer: RudePeer) -> None:
    with _client(rude_peer.port, retries=2) as client, pytest.raises(errors.Unavailable):
        client.list_rules()
    assert len(rude_peer.requests) == 3


def test_post_with_unknown_outcome_is_not_replayed_when_the_read_back_fails(
    rude_peer: RudePeer,
) -> None:
    # The POST is lost in a hang-up; reading back fails as well, so the outcome stays
    # unknown: the client must raise instead of sending the rule again.
    with _client(rude_peer.port, retries=2) as client, pytest.raises(errors.Unavailable):
        client.apply_rule(RULE)
    posts = [r for r in rude_peer.requests if r.startswith(b"POST")]
    gets = [r for r in rude_peer.requests if r.startswith(b"GET")]
    assert len(posts) == 1 and len(gets) == 3


def test_wait_until_ready_gives_up_after_its_timeout() -> None:
    now = [0.0]
    client = LoxiLBClient(NodeConfig(f"http://127.0.0.1:{_unused_port()}"),
                          clock=lambda: now[0],
                          sleep=lambda s: now.__setitem__(0, now[0] + s))
    with pytest.raises(errors.Unavailable, match="not ready after 2"):
        client.wait_until_ready(timeout=2.0, interval=0.5)
    assert 1.5 <= now[0] <= 2.0
