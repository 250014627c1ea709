"""What Octavia itself fills in passes the gate.

The objects are built with Octavia's own request preparation and provider conversion
(``octavia.db.prepare``, ``octavia.api.drivers.utils``), so the defaults the API adds
(timeouts, client authentication, session persistence, TLS flags) are the real ones.
"""

from __future__ import annotations

from typing import Any

import pytest
from octavia_lib.api.drivers import data_models as dm
from octavia_lib.api.drivers import exceptions

from octavia_loxilb.driver import capability

octavia_config = pytest.importorskip("octavia.common.config")
prepare = pytest.importorskip("octavia.db.prepare")
driver_utils = pytest.importorskip("octavia.api.drivers.utils")


def _listener(**request: Any) -> dm.Listener:
    body = {"protocol": "TCP", "protocol_port": 80, "project_id": "p", "id": "li-1",
            "enabled": True, "allowed_cidrs": None, "default_pool_id": None,
            "connection_limit": -1, **request}
    prepared = prepare.create_listener(body, "lb-1")
    return dm.Listener.from_dict(driver_utils.listener_dict_to_provider_dict(prepared))


def _pool(**request: Any) -> dm.Pool:
    body = {"protocol": "TCP", "lb_algorithm": "ROUND_ROBIN", "project_id": "p",
            "id": "po-1", "enabled": True, "session_persistence": None,
            "tls_enabled": False, "tls_ciphers": None, "tls_versions": None,
            "alpn_protocols": None, **request}
    prepared = prepare.create_pool(body, "lb-1")
    return dm.Pool.from_dict(driver_utils.pool_dict_to_provider_dict(prepared))


@pytest.mark.parametrize("protocol", ["TCP", "UDP", "SCTP", "HTTP", "HTTPS"])
def test_default_listener_passes(protocol: str) -> None:
    capability.check_create("listeners", _listener(protocol=protocol))


def test_listener_with_allowed_cidrs_passes() -> None:
    capability.check_create("listeners", _listener(
        allowed_cidrs=[{"cidr": "10.0.0.0/8"}, {"cidr": "192.0.2.0/24"}]))


def test_listener_with_a_client_timeout_outside_loxilb_range_is_refused() -> None:
    with pytest.raises(exceptions.UnsupportedOptionError,
                       match="timeout_client_data 100000000"):
        capability.check_create("listeners", _listener(timeout_client_data=100_000_000))


@pytest.mark.parametrize("request_fields", [
    {}, {"lb_algorithm": "LEAST_CONNECTIONS"}, {"protocol": "PROXYV2"},
    {"session_persistence": {"type": "SOURCE_IP"}}])
def test_default_pool_passes(request_fields: dict[str, Any]) -> None:
    capability.check_create("pools", _pool(**request_fields))


def test_tls_pool_gets_octavia_defaults_and_is_refused_for_tls_enabled() -> None:
    pool = _pool(tls_enabled=True)
    with pytest.raises(exceptions.UnsupportedOptionError) as error:
        capability.check_create("pools", pool)
    assert error.value.user_fault_string.startswith("Pool tls_enabled true is not supported")
