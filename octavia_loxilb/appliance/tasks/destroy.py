"""Destroy tasks: everything a group made, removed. Each is idempotent (a destroy that
failed half-way is simply run again) and has nothing to revert."""

from __future__ import annotations

from taskflow import task

from octavia_loxilb.appliance import store as records
from octavia_loxilb.appliance.services import Services
from octavia_loxilb.appliance.tasks import group as group_tasks


class MarkGroupDeleting(task.Task):
    def execute(self, services: Services, group_id: str) -> None:
        services.store.update_group(group_id, status=records.DELETING)
        services.store.set_nodes(group_id, [])


class DeleteServers(task.Task):
    def execute(self, services: Services, group_id: str) -> None:
        for appliance in services.store.appliances(group_id):
            if appliance.management_address:
                services.forget_client(appliance.management_address)
            if appliance.server_id:
                services.cloud.delete_server(appliance.server_id)
                services.store.update_appliance(appliance.id, server_id=None)


class DeletePorts(task.Task):
    def execute(self, services: Services, group_id: str) -> None:
        for appliance in services.store.appliances(group_id):
            for port in appliance.ports:
                services.cloud.delete_port(port.port_id)
                services.store.delete_port(port.port_id)


class RevokeCertificates(task.Task):
    def execute(self, services: Services, group_id: str) -> None:
        for appliance in services.store.appliances(group_id):
            if appliance.cert_serial:
                services.certs.revoke(appliance.cert_serial)


class DeleteGroupResources(task.Task):
    """Server group and security group (after the servers and ports that used them)."""

    def execute(self, services: Services, group_id: str) -> None:
        group_tasks.delete_server_group(services, group_id)
        group_tasks.delete_security_groups(services, group_id)


class DeleteGroupRecords(task.Task):
    def execute(self, services: Services, group_id: str) -> None:
        services.store.delete_group(group_id)
