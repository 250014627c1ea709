"""The job a provider call casts to the worker: what to converge and what to report.

The payload is deliberately small: the worker re-reads the load balancer's tree through the
driver-agent, so the job only says which load balancer, which objects the API locked (they
must all be reported), and what is going away (to be left out of the desired state).
"""

from __future__ import annotations

import dataclasses
from typing import Any

OBJECT_KINDS = ("loadbalancers", "listeners", "pools", "members", "healthmonitors",
                "l7policies", "l7rules")


@dataclasses.dataclass
class Job:
    """One unit of work for one load balancer.

    ``op`` names the provider call (``member_create``, ``loadbalancer_delete``...).
    ``subject`` is ``(kind, id)`` of the object the call was about (kind from
    ``OBJECT_KINDS``); ``locked`` maps kind → ids the API set PENDING_* for this call;
    ``deleting`` maps kind → ids that must be absent from LoxiLB afterwards and reported
    DELETED. ``members`` carries the complete member-id list of a batch update.
    ``expect`` holds the scalar fields an update changed: the worker waits until the
    subject read back through the driver-agent shows them, because the API commits its
    transaction only after the provider call returns.

    Member and health-monitor calls do not name their load balancer (octavia-lib gives
    the driver only a ``pool_id``): their ``loadbalancer_id`` is ``""`` and the worker
    resolves it from the pool in ``locked["pools"]``.
    """

    op: str
    loadbalancer_id: str
    subject: tuple[str, str]
    locked: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    deleting: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    cascade: bool = False
    members: list[str] | None = None
    expect: dict[str, Any] = dataclasses.field(default_factory=dict)
    created_at: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Job:
        fields = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in fields}
        kwargs["subject"] = tuple(kwargs["subject"])
        return cls(**kwargs)
