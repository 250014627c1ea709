"""Configuration files of the rig's OpenStack services, as sections rendered by ``render_config``.

One function per service, each taking the rig's :class:`Layout` (ports, database URLs, vhosts,
directories, the credentials every service uses to talk to the others). The values that
had to be found out are in ``/work/shared/openstack/RUNNING-OPENSTACK.md``: Keystone's memory
cache, Nova's quotas and VIF-plugging waits, Neutron's workers, the bind-all ML2 driver.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

Sections = dict[str, dict[str, Any]]

REGION = "RegionOne"
ADMIN_USER = "admin"
ADMIN_PROJECT = "admin"
SERVICE_USER = "rig-service"
SERVICE_PROJECT = "service"
SERVICE_ROLES = ("admin", "service")
DOMAIN = "Default"
SERVICES = ("keystone", "placement", "glance", "neutron", "nova-api")
NOVA_COMPUTE_DRIVER = "loxilb_rig.LoxiLBApplianceDriver"
ML2_MECHANISM_DRIVER = "loxilb_rig_bind_all"


@dataclasses.dataclass
class Layout:
    """Where everything of one rig lives: ports, databases, vhosts, files."""

    workdir: Path
    name: str
    admin_password: str
    service_password: str
    ports: dict[str, int]
    db_urls: dict[str, str]
    transport_urls: dict[str, str]

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    @property
    def auth_url(self) -> str:
        return self.url("keystone") + "/v3"

    def service_dir(self, service: str) -> Path:
        return self.workdir / service


def _service_auth(layout: Layout) -> dict[str, Any]:
    """Password auth as the services' user, for keystonemiddleware and service-to-service calls.

    The user holds ``admin`` (Nova binds ports to hosts, Neutron reads every project) and
    ``service``: keystonemiddleware 13 sends the calling service's own token as
    ``X-Service-Token`` beside the user's, and the receiving service refuses the whole request
    (401, before its own log sees it) unless that token carries a ``service_token_roles`` role
    (``service_token_roles_required`` is true by default).
    """
    return {
        "auth_type": "password",
        "auth_url": layout.auth_url,
        "username": SERVICE_USER,
        "password": layout.service_password,
        "project_name": SERVICE_PROJECT,
        "user_domain_name": DOMAIN,
        "project_domain_name": DOMAIN,
        "region_name": REGION,
    }


def _authtoken(layout: Layout) -> dict[str, Any]:
    options = _service_auth(layout)
    options.pop("region_name")
    options["www_authenticate_uri"] = layout.auth_url
    return options


def _common(layout: Layout, service: str) -> dict[str, Any]:
    return {"debug": False, "use_stderr": True, "state_path": str(layout.service_dir(service))}


def keystone(layout: Layout) -> Sections:
    kdir = layout.service_dir("keystone")
    return {
        "DEFAULT": {"debug": False, "use_stderr": True},
        "database": {"connection": layout.db_urls["keystone"], "max_pool_size": 5},
        "token": {"provider": "fernet"},
        "fernet_tokens": {"key_repository": str(kdir / "fernet-keys")},
        # Receipts (multi-factor auth) load at bootstrap too and default to /etc/keystone.
        "fernet_receipts": {"key_repository": str(kdir / "fernet-keys")},
        "credential": {"key_repository": str(kdir / "credential-keys")},
        "cache": {"enabled": True, "backend": "dogpile.cache.memory"},
        "identity": {"password_hash_rounds": 4},
        "oslo_messaging_notifications": {"driver": "noop"},
    }


def placement(layout: Layout) -> Sections:
    return {
        "DEFAULT": {"debug": False, "use_stderr": True},
        "placement_database": {"connection": layout.db_urls["placement"], "max_pool_size": 5},
        "api": {"auth_strategy": "keystone"},
        "keystone_authtoken": _authtoken(layout),
    }


def glance(layout: Layout) -> Sections:
    gdir = layout.service_dir("glance")
    return {
        "DEFAULT": {"debug": False, "use_stderr": True, "enabled_backends": "fs:file",
                    "bind_host": "127.0.0.1", "bind_port": layout.ports["glance"],
                    "workers": 1},
        "database": {"connection": layout.db_urls["glance"], "max_pool_size": 5},
        "glance_store": {"default_backend": "fs"},
        "fs": {"filesystem_store_datadir": str(gdir / "images")},
        "os_glance_staging_store": {"filesystem_store_datadir": str(gdir / "staging")},
        "os_glance_tasks_store": {"filesystem_store_datadir": str(gdir / "tasks")},
        "keystone_authtoken": _authtoken(layout),
        "paste_deploy": {"flavor": "keystone"},
        "oslo_messaging_notifications": {"driver": "noop"},
        "oslo_concurrency": {"lock_path": str(gdir / "locks")},
    }


def neutron(layout: Layout) -> Sections:
    ndir = layout.service_dir("neutron")
    return {
        "DEFAULT": {
            **_common(layout, "neutron"),
            "bind_host": "127.0.0.1",
            "bind_port": layout.ports["neutron"],
            "core_plugin": "ml2",
            "service_plugins": "router",
            "auth_strategy": "keystone",
            "transport_url": layout.transport_urls["neutron"],
            "api_workers": 1,
            "rpc_workers": 0,
            "rpc_state_report_workers": 0,
            "notify_nova_on_port_status_changes": False,
            "notify_nova_on_port_data_changes": False,
            "allow_overlapping_ips": True,
            "api_paste_config": str(ndir / "api-paste.ini"),
        },
        "database": {"connection": layout.db_urls["neutron"], "max_pool_size": 5,
                     "max_overflow": 10},
        "keystone_authtoken": _authtoken(layout),
        "nova": _service_auth(layout),
        "oslo_concurrency": {"lock_path": str(ndir / "locks")},
        "oslo_messaging_notifications": {"driver": "noop"},
        "quotas": {"quota_network": -1, "quota_subnet": -1, "quota_port": -1,
                   "quota_router": -1, "quota_floatingip": -1,
                   "quota_security_group": -1, "quota_security_group_rule": -1},
        "agent": {"report_interval": 0},
    }


def ml2(layout: Layout) -> Sections:
    return {
        "ml2": {
            "type_drivers": "flat,vlan,vxlan,local",
            "tenant_network_types": "vxlan",
            "mechanism_drivers": ML2_MECHANISM_DRIVER,
            "extension_drivers": "port_security",
        },
        "ml2_type_vxlan": {"vni_ranges": "1:100000"},
        "ml2_type_flat": {"flat_networks": "*"},
        "securitygroup": {"enable_security_group": True,
                          "firewall_driver": "noop"},
    }


def nova(layout: Layout) -> Sections:
    ndir = layout.service_dir("nova")
    quota = {k: -1 for k in ("instances", "cores", "ram", "metadata_items",
                             "injected_files", "injected_file_content_bytes",
                             "injected_file_path_length", "key_pairs", "server_groups",
                             "server_group_members")}
    return {
        "DEFAULT": {
            **_common(layout, "nova"),
            "transport_url": layout.transport_urls["nova"],
            "compute_driver": NOVA_COMPUTE_DRIVER,
            "my_ip": "127.0.0.1",
            "vif_plugging_timeout": 0,
            "vif_plugging_is_fatal": False,
            "graceful_shutdown_timeout": 5,
            "periodic_fuzzy_delay": 0,
            "instances_path": str(ndir / "instances"),
            "osapi_compute_workers": 1,
            "metadata_workers": 1,
        },
        "api": {"auth_strategy": "keystone"},
        "wsgi": {"api_paste_config": str(ndir / "api-paste.ini")},
        "api_database": {"connection": layout.db_urls["nova_api"], "max_pool_size": 5,
                         "max_overflow": 10},
        "database": {"connection": layout.db_urls["nova_cell1"], "max_pool_size": 5,
                     "max_overflow": 10},
        "keystone_authtoken": _authtoken(layout),
        "placement": _service_auth(layout),
        "neutron": {**_service_auth(layout), "service_metadata_proxy": False},
        "glance": {"region_name": REGION},
        "cinder": {"os_region_name": REGION},
        "service_user": {**_service_auth(layout), "send_service_user_token": False},
        "quota": quota,
        "scheduler": {"discover_hosts_in_cells_interval": 2, "workers": 1},
        "conductor": {"workers": 1},
        "oslo_concurrency": {"lock_path": str(ndir / "locks")},
        "oslo_messaging_notifications": {"driver": "noop"},
        "vnc": {"enabled": False},
        "spice": {"enabled": False},
        "serial_console": {"enabled": False},
        "os_vif_ovs": {"ovsdb_connection": ""},
    }


def nova_compute(layout: Layout, host: str) -> Sections:
    """What differs per compute host: name and state directory (one ``compute_id`` each)."""
    hdir = layout.service_dir(host)
    return {"DEFAULT": {"host": host, "state_path": str(hdir),
                        "instances_path": str(hdir / "instances")},
            "oslo_concurrency": {"lock_path": str(hdir / "locks")}}
