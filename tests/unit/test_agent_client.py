"""The driver-agent reply reader and the pool → load balancer memory of the worker."""

from __future__ import annotations

import json
import socket
import threading
import time
from typing import Any

import pytest
from octavia_lib.api.drivers import exceptions as driver_exceptions

from octavia_loxilb.common.jobs import Job
from octavia_loxilb.worker import agent_client, octavia_reader


def _serve(pieces: list[bytes], pause: float = 0.0) -> socket.socket:
    """A connected socket whose peer sends ``pieces`` one by one, then closes."""
    ours, theirs = socket.socketpair()
    ours.settimeout(5)

    def send() -> None:
        for piece in pieces:
            theirs.sendall(piece)
            time.sleep(pause)
        theirs.close()

    threading.Thread(target=send, daemon=True).start()
    return ours


def _framed(body: Any) -> bytes:
    data = json.dumps(body).encode()
    return f"{len(data)}\n".encode() + data


def test_reply_split_anywhere_is_reassembled() -> None:
    body = {"loadbalancer_id": "lb-1", "listeners": [{"x": "y" * 5000}]}
    raw = _framed(body)
    pieces = [raw[:1], raw[1:3], raw[3:4000], raw[4000:]]
    assert agent_client.read_reply(_serve(pieces, pause=0.01)) == body


def test_reply_in_one_piece_with_nothing_after() -> None:
    assert agent_client.read_reply(_serve([_framed({"status_code": 200})])) == {
        "status_code": 200}


def test_connection_closed_mid_reply_is_a_driver_agent_timeout() -> None:
    raw = _framed({"a": "b" * 100})
    with pytest.raises(driver_exceptions.DriverAgentTimeout, match="closed"):
        agent_client.read_reply(_serve([raw[:20]]))


def test_silence_past_the_limit_is_a_driver_agent_timeout() -> None:
    ours, theirs = socket.socketpair()
    ours.settimeout(0.05)
    try:
        with pytest.raises(driver_exceptions.DriverAgentTimeout, match="did not respond"):
            agent_client.read_reply(ours, limit=0.2)
    finally:
        theirs.close()
        ours.close()


def test_reply_answers_without_octavia_libs_per_byte_sleeps() -> None:
    """A 6-digit size line costs octavia-lib ≥ 70 ms of sleeps; ours returns at once."""
    raw = _framed({"blob": "z" * 200_000})
    began = time.monotonic()
    agent_client.read_reply(_serve([raw]))
    assert time.monotonic() - began < 0.07


def _tree(lb_id: str, pool_ids: list[str], default_pool: str | None = None) -> dict[str, Any]:
    listeners = [{"listener_id": "li", "default_pool": {"pool_id": default_pool}}] if (
        default_pool) else []
    return {"loadbalancer_id": lb_id, "pools": [{"pool_id": p} for p in pool_ids],
            "listeners": listeners}


def test_pool_owners_remember_every_pool_of_a_tree_and_forget_the_oldest() -> None:
    owners = octavia_reader.PoolOwners(size=3)
    owners.remember(_tree("lb-a", ["p1", "p2"], default_pool="p3"))
    assert [owners.get(p) for p in ("p1", "p2", "p3")] == ["lb-a"] * 3
    owners.get("p1")  # recently used: survives the next insert
    owners.remember(_tree("lb-b", ["p4"]))
    assert owners.get("p2") is None
    assert (owners.get("p1"), owners.get("p4")) == ("lb-a", "lb-b")


class _PoolReader:
    """The driver-agent's ``get_pool``, answering from a fixed table and counting calls."""

    def __init__(self, owners: dict[str, str]) -> None:
        self.owners = owners
        self.calls = 0

    def get_pool(self, pool_id: str) -> Any:
        self.calls += 1
        owner = self.owners.get(pool_id)
        return None if owner is None else type("Pool", (), {"loadbalancer_id": owner})()


def test_member_job_on_a_known_pool_skips_the_driver_agent() -> None:
    octavia_reader.pool_owners.clear()
    job = Job(op="member_create", loadbalancer_id="", subject=("members", "m1"),
              locked={"pools": ["pool-known"]})
    agent = _PoolReader({"pool-known": "lb-1"})
    deadline = time.monotonic() + 1
    assert octavia_reader.resolve_loadbalancer_id(job, agent, deadline=deadline) == "lb-1"
    assert agent.calls == 1
    octavia_reader.pool_owners.remember(_tree("lb-1", ["pool-known"]))
    assert octavia_reader.resolve_loadbalancer_id(job, agent, deadline=deadline) == "lb-1"
    assert agent.calls == 1
    octavia_reader.pool_owners.clear()
