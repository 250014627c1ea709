"""How the appliances of a group share the VIPs: SINGLE, or ACTIVE_STANDBY.

ACTIVE_STANDBY uses LoxiLB's own HA: the rules live in instance ``llb-inst0`` (a rule name
without ``:`` belongs to it, API-NOTES §5.3); the MASTER plumbs and answers for the VIPs, the
BACKUP withdraws them; a BFD session between the two management addresses lets each notice
the other's death and change state by itself (§5.1, §5.2). SINGLE leaves the instance in
NOT_DEFINED, LoxiLB's standalone mode.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from octavia_loxilb.loxilb import errors, models
from octavia_loxilb.loxilb.client import LoxiLBClient

INSTANCE = "llb-inst0"
MASTER = "MASTER"
BACKUP = "BACKUP"
STANDALONE = "NOT_DEFINED"


def roles(topology: str) -> list[str | None]:
    """The role of each appliance a group of this topology has, in boot order."""
    if topology == "SINGLE":
        return [None]
    if topology == "ACTIVE_STANDBY":
        return [MASTER, BACKUP]
    raise ValueError(f"appliance topology {topology!r} is not supported")


@dataclasses.dataclass(frozen=True)
class HAMember:
    """One appliance as HA sees it: its API client, management address and role."""

    client: LoxiLBClient
    address: str
    role: str | None


@dataclasses.dataclass(frozen=True)
class HAApplied:
    """What ``apply`` changed, so ``undo`` reverts exactly that."""

    states: tuple[tuple[int, str], ...]
    """(member index, state it had before)."""
    bfd: tuple[tuple[int, str], ...]
    """(member index, remote address) of the sessions added."""


def _state_of(client: LoxiLBClient) -> str:
    for state in client.list_cluster_states():
        if state.instance == INSTANCE:
            return state.state
    return STANDALONE


def apply(members: Sequence[HAMember], interval_us: int, retry_count: int) -> HAApplied:
    """Set each member's instance state to its role and pair them with BFD."""
    states: list[tuple[int, str]] = []
    bfd: list[tuple[int, str]] = []
    paired = len(members) > 1
    for index, member in enumerate(members):
        wanted = member.role or STANDALONE
        before = _state_of(member.client)
        if before != wanted:
            member.client.set_cluster_state(models.ClusterInstanceState(INSTANCE, wanted))
            states.append((index, before))
        if not paired:
            continue
        held = {s.remote_ip for s in _bfd_sessions(member.client)}
        for peer in members:
            if peer is member or peer.address in held:
                continue
            member.client.add_bfd_session(models.BFDSession(
                instance=INSTANCE, remote_ip=peer.address, source_ip=member.address,
                interval=interval_us, retry_count=retry_count))
            bfd.append((index, peer.address))
    return HAApplied(tuple(states), tuple(bfd))


def _bfd_sessions(client: LoxiLBClient) -> list[models.BFDSession]:
    try:
        return client.list_bfd_sessions()
    except errors.LoxiLBError:  # LoxiLB answers 500 while no BFD session runs (§5.2)
        return []


def undo(members: Sequence[HAMember], applied: HAApplied) -> None:
    """Revert ``apply``: remove the sessions it added and restore the states it changed."""
    for index, remote in applied.bfd:
        members[index].client.delete_bfd_session(remote, INSTANCE)
    for index, state in applied.states:
        members[index].client.set_cluster_state(models.ClusterInstanceState(INSTANCE, state))


def promote(client: LoxiLBClient) -> None:
    """Make an appliance MASTER (failover: the surviving BACKUP takes the VIPs)."""
    client.set_cluster_state(models.ClusterInstanceState(INSTANCE, MASTER))


def current_roles(members: Sequence[HAMember]) -> list[str]:
    return [_state_of(m.client) for m in members]
