"""``LoxiLBProviderDriver``: the ``loxilb`` provider inside ``octavia-api``.

Octavia calls the driver inside its open database transaction, with the load balancer
row locked, and builds a new instance per request. So every method does exactly three
things: gate (refuse what LoxiLB cannot honour), build a ``Job``, cast it to the worker.
No LoxiLB, no OpenStack, no status pushes, no waiting: the worker does the rest and
reports through the driver-agent once the API has committed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from octavia_lib.api.drivers import exceptions, provider_base

from octavia_loxilb.common.jobs import Job
from octavia_loxilb.driver import capability, flavor, job_builder, rpc
from octavia_loxilb.driver.capability_tables import L7_POLICIES, L7_RULES


def _submit(job: Job) -> None:
    rpc.cast_job(job)


def _reject(text: str) -> None:
    raise exceptions.UnsupportedOptionError(user_fault_string=text, operator_fault_string=text)


class LoxiLBProviderDriver(provider_base.ProviderDriver):
    """Octavia provider driver that realises load balancers as LoxiLB rules."""

    # Load balancer

    def create_vip_port(self, loadbalancer_id: str, project_id: str,
                        vip_dictionary: dict[str, Any],
                        additional_vip_dicts: list[dict[str, Any]]) -> Any:
        """Let Octavia allocate the VIP port through its own network driver."""
        raise exceptions.NotImplementedError(
            user_fault_string="The LoxiLB provider lets Octavia allocate the VIP port.",
            operator_fault_string="The LoxiLB provider does not create VIP ports; Octavia's "
                                  "network driver allocates them.")

    def loadbalancer_create(self, loadbalancer: Any) -> None:
        capability.check_loadbalancer_create(loadbalancer)
        _submit(job_builder.loadbalancer_create(loadbalancer))

    def loadbalancer_update(self, old_loadbalancer: Any, new_loadbalancer: Any) -> None:
        capability.check_update("loadbalancers", old_loadbalancer, new_loadbalancer)
        _submit(job_builder.loadbalancer_update(old_loadbalancer, new_loadbalancer))

    def loadbalancer_delete(self, loadbalancer: Any, cascade: bool = False) -> None:
        _submit(job_builder.loadbalancer_delete(loadbalancer, cascade))

    def loadbalancer_failover(self, loadbalancer_id: str) -> None:
        _submit(job_builder.loadbalancer_failover(loadbalancer_id))

    def loadbalancer_failover_with_flavor(self, loadbalancer_id: str, flavor_id: str) -> None:
        """Refused: a flavor cannot change under a load balancer placed on a LoxiLB group."""
        raise exceptions.NotImplementedError(
            user_fault_string="The LoxiLB provider cannot fail over a load balancer onto "
                              "a different flavor.",
            operator_fault_string="loadbalancer_failover_with_flavor is not supported by "
                                  "the LoxiLB provider; use loadbalancer_failover.")

    # Listener

    def listener_create(self, listener: Any) -> None:
        capability.check_create("listeners", listener)
        _submit(job_builder.listener_create(listener))

    def listener_update(self, old_listener: Any, new_listener: Any) -> None:
        capability.check_update("listeners", old_listener, new_listener)
        _submit(job_builder.listener_update(old_listener, new_listener))

    def listener_delete(self, listener: Any) -> None:
        _submit(job_builder.listener_delete(listener))

    # Pool

    def pool_create(self, pool: Any) -> None:
        capability.check_create("pools", pool)
        _submit(job_builder.pool_create(pool))

    def pool_update(self, old_pool: Any, new_pool: Any) -> None:
        capability.check_update("pools", old_pool, new_pool)
        _submit(job_builder.pool_update(old_pool, new_pool))

    def pool_delete(self, pool: Any) -> None:
        _submit(job_builder.pool_delete(pool))

    # Member

    def member_create(self, member: Any) -> None:
        capability.check_create("members", member)
        _submit(job_builder.member_create(member))

    def member_update(self, old_member: Any, new_member: Any) -> None:
        capability.check_update("members", old_member, new_member)
        _submit(job_builder.member_update(old_member, new_member))

    def member_delete(self, member: Any) -> None:
        _submit(job_builder.member_delete(member))

    def member_batch_update(self, pool_id: str, members: Sequence[Any]) -> None:
        capability.check_member_batch(members)
        _submit(job_builder.member_batch_update(pool_id, members))

    # Health monitor

    def health_monitor_create(self, healthmonitor: Any) -> None:
        capability.check_create("healthmonitors", healthmonitor)
        _submit(job_builder.health_monitor_create(healthmonitor))

    def health_monitor_update(self, old_healthmonitor: Any, new_healthmonitor: Any) -> None:
        capability.check_update("healthmonitors", old_healthmonitor, new_healthmonitor)
        _submit(job_builder.health_monitor_update(old_healthmonitor, new_healthmonitor))

    def health_monitor_delete(self, healthmonitor: Any) -> None:
        _submit(job_builder.health_monitor_delete(healthmonitor))

    # L7: LoxiLB rules match L4 tuples only.

    def l7policy_create(self, l7policy: Any) -> None:
        _reject(L7_POLICIES)

    def l7policy_update(self, old_l7policy: Any, new_l7policy: Any) -> None:
        _reject(L7_POLICIES)

    def l7policy_delete(self, l7policy: Any) -> None:
        _reject(L7_POLICIES)

    def l7rule_create(self, l7rule: Any) -> None:
        _reject(L7_RULES)

    def l7rule_update(self, old_l7rule: Any, new_l7rule: Any) -> None:
        _reject(L7_RULES)

    def l7rule_delete(self, l7rule: Any) -> None:
        _reject(L7_RULES)

    # Flavor and availability zone

    def get_supported_flavor_metadata(self) -> dict[str, str]:
        return dict(flavor.FLAVOR_METADATA)

    def validate_flavor(self, flavor_metadata: dict[str, Any]) -> None:
        flavor.validate_flavor(flavor_metadata)

    def get_supported_availability_zone_metadata(self) -> dict[str, str]:
        return dict(flavor.AVAILABILITY_ZONE_METADATA)

    def validate_availability_zone(self, availability_zone_metadata: dict[str, Any]) -> None:
        flavor.validate_availability_zone(availability_zone_metadata)
