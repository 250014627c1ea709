"""The reconciler's read-back against the emulator: rules always, probes only when written."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from octavia_loxilb.emulator.server import Emulator
from octavia_loxilb.loxilb.client import LoxiLBClient
from octavia_loxilb.loxilb.transport import NodeConfig
from octavia_loxilb.reconcile.apply import Reconciler
from octavia_loxilb.reconcile.translate import translate
from tests.unit.test_translate import hm, listener, member, pool, tree

RULES = "/netlox/v1/config/loadbalancer/all"
PROBES = "/netlox/v1/config/endpoint/all"


def lb(members: list[Any], **pool_fields: Any) -> dict[str, Any]:
    p = pool(members=members, **pool_fields)
    return tree([listener(default_pool=p)], [p])


@pytest.fixture
def node(emulator: Emulator) -> Iterator[LoxiLBClient]:
    with LoxiLBClient(NodeConfig(emulator.base_url, retries=0, timeout_read=10)) as api:
        yield api


def gets(emulator: Emulator) -> list[str]:
    calls = requests.get(emulator.base_url + "/_emulator/calls", timeout=5).json()
    requests.delete(emulator.base_url + "/_emulator/calls", timeout=5).raise_for_status()
    return [c["path"] for c in calls if c["method"] == "GET"]


def test_member_change_without_probe_write_reads_probes_once(
        emulator: Emulator, node: LoxiLBClient) -> None:
    assert Reconciler([node]).converge(translate(lb([member(1)]))).verified
    gets(emulator)
    result = Reconciler([node]).converge(translate(lb([member(1), member(2)])))
    assert result.verified and result.reads == 3
    assert gets(emulator) == [RULES, PROBES, RULES]


def test_probe_write_is_read_back(emulator: Emulator, node: LoxiLBClient) -> None:
    assert Reconciler([node]).converge(translate(lb([member(1)]))).verified
    gets(emulator)
    result = Reconciler([node]).converge(
        translate(lb([member(1)], healthmonitor=hm(type="TCP"))))
    assert result.verified and result.reads == 4
    assert gets(emulator) == [RULES, PROBES, RULES, PROBES]


def test_a_probe_changed_behind_our_back_is_still_repaired_and_verified(
        emulator: Emulator, node: LoxiLBClient) -> None:
    desired = translate(lb([member(1)], healthmonitor=hm(type="TCP")))
    assert Reconciler([node]).converge(desired).verified
    probe = next(p for p in node.list_endpoint_probes())
    node.set_endpoint_probe(dataclasses.replace(probe, probe_type="none"))
    result = Reconciler([node]).converge(desired)
    assert result.verified and result.writes == 1
    assert next(p for p in node.list_endpoint_probes()).probe_type == "tcp"
