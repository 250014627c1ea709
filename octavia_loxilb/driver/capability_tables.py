"""What LoxiLB can express, field by field, for every octavia-lib data model.

One table per object kind (field → rule) plus the rules that span several fields. Rows
that users set themselves come before the ones Octavia derives from them (a pool's
``tls_enabled`` before the TLS defaults the API adds), because the gate reports in table
order and the first complaint should name what the user asked for. Every
field of every ``octavia_lib.api.drivers.data_models`` class has a row (a unit test
enforces it), so a new Octavia option is refused until someone decides what it means
here. ``doc/capabilities.md`` is rendered from these tables.
"""

from __future__ import annotations

from typing import Any

from octavia_loxilb.driver import flavor
from octavia_loxilb.driver.capability_rules import (
    Context,
    CrossRule,
    FieldRule,
    KindTable,
    Problem,
    Verdict,
    accept_any,
    exactly,
    int_between,
    ip_literal,
    ipv4_cidrs,
    is_bool,
    is_empty,
    must_be_empty,
    one_of,
    same_family,
    source_ip_persistence,
)
from octavia_loxilb.driver.objects import Fields

SUP, INFO, NEST = Verdict.SUPPORTED, Verdict.INFORMATIONAL, Verdict.NESTED
REJ, DEF = Verdict.REJECTED, Verdict.DEFAULT_ONLY

MAX_ALLOWED_CIDRS = 32
"""Each prefix becomes a LoxiLB firewall rule; beyond a few dozen it is a policy for
Neutron security groups, not for a per-rule source filter."""

LISTENER_PROTOCOLS = ("TCP", "UDP", "SCTP", "HTTP", "HTTPS")
POOL_PROTOCOLS = ("TCP", "UDP", "SCTP", "HTTP", "HTTPS", "PROXYV2")
LB_ALGORITHMS = ("ROUND_ROBIN", "LEAST_CONNECTIONS", "SOURCE_IP", "SOURCE_IP_PORT")
PERSISTENT_ALGORITHMS = ("ROUND_ROBIN", "SOURCE_IP")
HEALTH_MONITOR_TYPES = ("TCP", "UDP-CONNECT", "PING", "HTTP", "HTTPS")
HTTP_METHOD_FOR_TYPE = {"HTTP": "HEAD", "HTTPS": "GET"}

POOL_PROTOCOLS_FOR_LISTENER: dict[str, tuple[str, ...]] = {
    # Octavia's listener/pool pairs that stay one LoxiLB rule protocol (tcp, udp, sctp).
    "TCP": ("TCP", "HTTP", "HTTPS", "PROXYV2"),
    "HTTP": ("HTTP", "PROXYV2"),
    "HTTPS": ("HTTPS", "TCP", "PROXYV2"),
    "UDP": ("UDP",),
    "SCTP": ("SCTP",),
}

NO_TLS = "LoxiLB forwards at L4 and neither terminates nor originates TLS"
NO_HTTP = "LoxiLB forwards at L4 and does not parse or rewrite HTTP"
DEFAULT_ONLY = "LoxiLB has no such timeout, so only Octavia's default can be honoured"


def _flavor_check(value: Any) -> str | None:
    if not isinstance(value, dict):
        return None
    problem = flavor.flavor_problem(value)
    return flavor.describe(problem) if problem else None


def _az_check(value: Any) -> str | None:
    if not isinstance(value, dict):
        return None   # on updates Octavia passes the zone's name, already validated
    problem = flavor.availability_zone_problem(value)
    return flavor.describe(problem) if problem else None


def _unlimited(value: Any) -> str | None:
    return None if value in (None, -1) else "LoxiLB rules have no connection limit"


def _client_auth_none(value: Any) -> str | None:
    return None if value in (None, "NONE") else ""


LOADBALANCER = KindTable(
    kind="loadbalancers", label="Load balancer",
    fields=(
        FieldRule("admin_state_up", SUP, "false removes every rule of the load balancer "
                  "from LoxiLB; true programs them", is_bool, accept=(True, False),
                  reject=("yes",)),
        FieldRule("availability_zone", SUP, "metadata loxilb_group places the load balancer "
                  "on that LoxiLB group", _az_check,
                  accept=({}, {"loxilb_group": "edge-1"}), reject=({"zone": "az1"},)),
        FieldRule("description", INFO, "not sent to LoxiLB", accept_any, accept=("web tier",)),
        FieldRule("flavor", SUP, "metadata lb_mode → rule mode, loxilb_group → placement, "
                  "deployment appliance → driver-booted appliances in topology SINGLE or "
                  "ACTIVE_STANDBY", _flavor_check,
                  accept=({}, {"lb_mode": "dnat", "topology": "SINGLE"}),
                  reject=({"topology": "ACTIVE_STANDBY"}, {"lb_mode": "dsr"})),
        FieldRule("listeners", NEST, "one LoxiLB rule per listener", accept_any),
        FieldRule("loadbalancer_id", INFO, "identifies the placement record", accept_any),
        FieldRule("name", INFO, "not sent to LoxiLB", accept_any, accept=("lb1",)),
        FieldRule("pools", NEST, "endpoints of the rules whose listener uses them", accept_any),
        FieldRule("project_id", INFO, "not sent to LoxiLB", accept_any),
        FieldRule("vip_address", SUP, "externalIP of every rule (IPv4 or IPv6)", ip_literal,
                  accept=("192.0.2.10", "2001:db8::10"), reject=("not-an-address",)),
        FieldRule("vip_network_id", INFO, "Octavia allocates the VIP port; the LoxiLB group "
                  "must reach this network", accept_any),
        FieldRule("vip_port_id", INFO, "allocated by Octavia's network driver", accept_any),
        FieldRule("vip_subnet_id", INFO, "the subnet the VIP is taken from", accept_any),
        FieldRule("vip_qos_policy_id", REJ, "—", must_be_empty,
                  "LoxiLB enforces no Neutron QoS policy on the VIP",
                  accept=(None,), reject=("6f2a0c1e-qos",)),
        FieldRule("vip_sg_ids", REJ, "—", must_be_empty,
                  "traffic to the LoxiLB group does not cross the Neutron VIP port, so its "
                  "security groups would not be enforced; use listener allowed_cidrs",
                  accept=(None, []), reject=(["sg-1"],)),
        FieldRule("additional_vips", REJ, "—", must_be_empty,
                  "LoxiLB secondary IPs exist for SCTP multihoming only",
                  accept=(None, []),
                  reject=([{"ip_address": "192.0.2.11", "subnet_id": "subnet-2"}],)),
    ))

LISTENER = KindTable(
    kind="listeners", label="Listener",
    fields=(
        FieldRule("protocol", SUP, "rule protocol tcp (TCP; HTTP and HTTPS as L4 "
                  "pass-through), udp (UDP), sctp (SCTP)", one_of(*LISTENER_PROTOCOLS),
                  accept=LISTENER_PROTOCOLS, reject=("TERMINATED_HTTPS", "PROMETHEUS")),
        FieldRule("admin_state_up", SUP, "false removes the listener's rule", is_bool,
                  accept=(True, False), reject=("yes",)),
        FieldRule("allowed_cidrs", SUP, f"allowedSources (IPv4 prefixes, at most "
                  f"{MAX_ALLOWED_CIDRS})", ipv4_cidrs(MAX_ALLOWED_CIDRS),
                  "LoxiLB filters IPv4 source prefixes only",
                  accept=(None, [], ["10.0.0.0/8", "192.0.2.7/32"]),
                  reject=(["2001:db8::/64"], [f"10.0.{i}.0/24" for i in range(33)])),
        FieldRule("alpn_protocols", REJ, "—", must_be_empty, NO_TLS, accept=(None, []),
                  reject=(["h2"],)),
        FieldRule("client_authentication", DEF, "—", _client_auth_none, NO_TLS,
                  accept=(None, "NONE"), reject=("MANDATORY", "OPTIONAL")),
        FieldRule("client_ca_tls_container_data", REJ, "—", must_be_empty, NO_TLS,
                  reject=("-----BEGIN CERTIFICATE-----",)),
        FieldRule("client_ca_tls_container_ref", REJ, "—", must_be_empty, NO_TLS,
                  reject=("http://barbican/containers/ca",)),
        FieldRule("client_crl_container_data", REJ, "—", must_be_empty, NO_TLS,
                  reject=("-----BEGIN X509 CRL-----",)),
        FieldRule("client_crl_container_ref", REJ, "—", must_be_empty, NO_TLS,
                  reject=("http://barbican/containers/crl",)),
        FieldRule("connection_limit", DEF, "—", _unlimited,
                  "LoxiLB rules have no connection limit", accept=(None, -1),
                  reject=(100,)),
        FieldRule("default_pool", NEST, "its enabled members become the rule's endpoints",
                  accept_any),
        FieldRule("default_pool_id", SUP, "the pool whose members are the rule's endpoints; "
                  "no pool or no enabled member means no rule", accept_any,
                  accept=(None, "pool-1")),
        FieldRule("default_tls_container_data", REJ, "—", must_be_empty, NO_TLS,
                  reject=({"certificate": "-----BEGIN CERTIFICATE-----"},)),
        FieldRule("default_tls_container_ref", REJ, "—", must_be_empty, NO_TLS,
                  reject=("http://barbican/containers/tls",)),
        FieldRule("description", INFO, "not sent to LoxiLB", accept_any),
        FieldRule("hsts_include_subdomains", REJ, "—", must_be_empty, NO_TLS,
                  accept=(None, False), reject=(True,)),
        FieldRule("hsts_max_age", REJ, "—", must_be_empty, NO_TLS, accept=(None,),
                  reject=(31536000,)),
        FieldRule("hsts_preload", REJ, "—", must_be_empty, NO_TLS, accept=(None, False),
                  reject=(True,)),
        FieldRule("insert_headers", REJ, "—", must_be_empty, NO_HTTP, accept=(None, {}),
                  reject=({"X-Forwarded-For": "true"},)),
        FieldRule("l7policies", REJ, "—", must_be_empty,
                  "L7 policies are not supported by the LoxiLB provider", accept=(None, []),
                  reject=([{"l7policy_id": "p1", "action": "REJECT"}],)),
        FieldRule("listener_id", INFO, "names the listener's rule", accept_any),
        FieldRule("loadbalancer_id", INFO, "the load balancer whose VIP the rule uses",
                  accept_any),
        FieldRule("name", INFO, "not sent to LoxiLB", accept_any),
        FieldRule("project_id", INFO, "not sent to LoxiLB", accept_any),
        FieldRule("protocol_port", SUP, "rule port", int_between(1, 65535),
                  accept=(80, 65535), reject=(0,)),
        FieldRule("sni_container_data", REJ, "—", must_be_empty, NO_TLS, accept=(None, []),
                  reject=([{"certificate": "x"}],)),
        FieldRule("sni_container_refs", REJ, "—", must_be_empty, NO_TLS, accept=(None, []),
                  reject=(["http://barbican/containers/sni"],)),
        FieldRule("timeout_client_data", SUP, "inactiveTimeOut in seconds (ms / 1000)",
                  int_between(1000, 86_400_000, "ms"),
                  "LoxiLB's idle timeout is 1..86400 s",
                  accept=(1000, 50000, 86_400_000), reject=(0, 999, 86_400_001)),
        FieldRule("timeout_member_connect", DEF, "—", exactly(5000, "Octavia's default (ms)"),
                  DEFAULT_ONLY, accept=(None, 5000), reject=(3000,)),
        FieldRule("timeout_member_data", DEF, "—", exactly(50000, "Octavia's default (ms)"),
                  DEFAULT_ONLY, accept=(None, 50000), reject=(60000,)),
        FieldRule("timeout_tcp_inspect", DEF, "—", exactly(0, "Octavia's default (ms)"),
                  DEFAULT_ONLY, accept=(None, 0), reject=(1000,)),
        FieldRule("tls_ciphers", REJ, "—", must_be_empty, NO_TLS, accept=(None,),
                  reject=("ECDHE-RSA-AES256-GCM-SHA384",)),
        FieldRule("tls_versions", REJ, "—", must_be_empty, NO_TLS, accept=(None, []),
                  reject=(["TLSv1.2"],)),
    ))


def _persistence_with_algorithm(obj: Fields, ctx: Context) -> Problem | None:
    persistence = obj.get("session_persistence")
    algorithm = obj.get("lb_algorithm")
    if is_empty(persistence) or algorithm in (None, *PERSISTENT_ALGORITHMS):
        return None
    return Problem("session_persistence", f"SOURCE_IP with lb_algorithm {algorithm}",
                   "LoxiLB's source-IP persistence is a selection mode of its own that "
                   "stands in for ROUND_ROBIN or SOURCE_IP only")


def _pool_fits_listener(obj: Fields, ctx: Context) -> Problem | None:
    protocol = obj.get("protocol")
    listener_protocol = ctx.listener_protocol
    if protocol is None or listener_protocol not in POOL_PROTOCOLS_FOR_LISTENER:
        return None
    allowed = POOL_PROTOCOLS_FOR_LISTENER[listener_protocol]
    if protocol in allowed:
        return None
    return Problem("protocol", f"{protocol} on a {listener_protocol} listener",
                   f"a {listener_protocol} listener takes {', '.join(allowed)} pools")


POOL = KindTable(
    kind="pools", label="Pool",
    fields=(
        FieldRule("protocol", SUP, "TCP/HTTP/HTTPS → tcp, UDP → udp, SCTP → sctp, PROXYV2 → "
                  "tcp with proxyprotocolv2", one_of(*POOL_PROTOCOLS),
                  "LoxiLB has no PROXY protocol v1", accept=POOL_PROTOCOLS,
                  reject=("PROXY",)),
        FieldRule("tls_enabled", REJ, "—", must_be_empty, NO_TLS, accept=(None, False),
                  reject=(True,)),
        FieldRule("admin_state_up", SUP, "false leaves the pool's members out of every rule",
                  is_bool, accept=(True, False), reject=("yes",)),
        FieldRule("alpn_protocols", REJ, "—", must_be_empty, NO_TLS, accept=(None, []),
                  reject=(["http/1.1"],)),
        FieldRule("ca_tls_container_data", REJ, "—", must_be_empty, NO_TLS,
                  reject=("-----BEGIN CERTIFICATE-----",)),
        FieldRule("ca_tls_container_ref", REJ, "—", must_be_empty, NO_TLS,
                  reject=("http://barbican/containers/ca",)),
        FieldRule("crl_container_data", REJ, "—", must_be_empty, NO_TLS,
                  reject=("-----BEGIN X509 CRL-----",)),
        FieldRule("crl_container_ref", REJ, "—", must_be_empty, NO_TLS,
                  reject=("http://barbican/containers/crl",)),
        FieldRule("description", INFO, "not sent to LoxiLB", accept_any),
        FieldRule("healthmonitor", NEST, "endpoint probes of the pool's members", accept_any),
        FieldRule("lb_algorithm", SUP, "sel: ROUND_ROBIN → 0 rr (2 weighted rr when member "
                  "weights differ), LEAST_CONNECTIONS → 4, SOURCE_IP → 3 persist, "
                  "SOURCE_IP_PORT → 1 hash", one_of(*LB_ALGORITHMS), accept=LB_ALGORITHMS,
                  reject=("WEIGHTED_LEAST_CONNECTIONS",)),
        FieldRule("listener_id", INFO, "the listener using the pool", accept_any),
        FieldRule("loadbalancer_id", INFO, "the pool's load balancer", accept_any),
        FieldRule("members", NEST, "the rule's endpoints (at most 32)", accept_any),
        FieldRule("name", INFO, "not sent to LoxiLB", accept_any),
        FieldRule("pool_id", INFO, "identifies the pool", accept_any),
        FieldRule("project_id", INFO, "not sent to LoxiLB", accept_any),
        FieldRule("session_persistence", SUP, "SOURCE_IP → sel 3 (persist; its timeout is "
                  "fixed by LoxiLB)", source_ip_persistence,
                  accept=(None, {"type": "SOURCE_IP"},
                          {"type": "SOURCE_IP", "cookie_name": None,
                           "persistence_timeout": None, "persistence_granularity": None}),
                  reject=({"type": "HTTP_COOKIE"}, {"type": "APP_COOKIE", "cookie_name": "s"},
                          {"type": "SOURCE_IP", "persistence_timeout": 360},
                          {"type": "SOURCE_IP", "persistence_granularity": "255.255.255.0"})),
        FieldRule("tls_ciphers", REJ, "—", must_be_empty, NO_TLS, accept=(None,),
                  reject=("ECDHE-RSA-AES256-GCM-SHA384",)),
        FieldRule("tls_container_data", REJ, "—", must_be_empty, NO_TLS,
                  reject=({"certificate": "x"},)),
        FieldRule("tls_container_ref", REJ, "—", must_be_empty, NO_TLS,
                  reject=("http://barbican/containers/client",)),
        FieldRule("tls_versions", REJ, "—", must_be_empty, NO_TLS, accept=(None, []),
                  reject=(["TLSv1.3"],)),
    ),
    cross=(
        CrossRule("persistence_with_algorithm",
                  "SOURCE_IP persistence only with ROUND_ROBIN or SOURCE_IP",
                  _persistence_with_algorithm),
        CrossRule("pool_fits_listener",
                  "the pool protocol fits its listener's LoxiLB rule protocol (checked when "
                  "both arrive together)", _pool_fits_listener),
    ))


def _member_family(obj: Fields, ctx: Context) -> Problem | None:
    for field in ("address", "monitor_address"):
        address = obj.get(field)
        if address and ctx.vip_address and not same_family(address, ctx.vip_address):
            return Problem(field, f"{address} (VIP {ctx.vip_address})",
                           "members must be of the VIP's IP family")
    address, monitor = obj.get("address"), obj.get("monitor_address")
    if address and monitor and not same_family(address, monitor):
        return Problem("monitor_address", f"{monitor} (member {address})",
                       "the monitor address must be of the member's IP family")
    return None


MEMBER = KindTable(
    kind="members", label="Member",
    fields=(
        FieldRule("address", SUP, "endpointIP", ip_literal,
                  accept=("192.0.2.21", "2001:db8::21"), reject=("backend.example",)),
        FieldRule("admin_state_up", SUP, "false leaves the member out of the endpoints",
                  is_bool, accept=(True, False), reject=("yes",)),
        FieldRule("backup", REJ, "—", must_be_empty, "LoxiLB has no standby endpoints",
                  accept=(None, False), reject=(True,)),
        FieldRule("member_id", INFO, "identifies the member", accept_any),
        FieldRule("monitor_address", SUP, "hostName of the member's endpoint probe",
                  ip_literal, accept=(None, "192.0.2.22"), reject=("probe.example",)),
        FieldRule("monitor_port", SUP, "port of the member's endpoint probe",
                  int_between(1, 65535), accept=(None, 8080), reject=(0, 70000)),
        FieldRule("name", INFO, "not sent to LoxiLB", accept_any),
        FieldRule("pool_id", INFO, "the member's pool", accept_any),
        FieldRule("project_id", INFO, "not sent to LoxiLB", accept_any),
        FieldRule("protocol_port", SUP, "targetPort", int_between(1, 65535),
                  accept=(80,), reject=(0,)),
        FieldRule("subnet_id", INFO, "no port is plugged: the LoxiLB group must route to "
                  "the member", accept_any),
        FieldRule("vnic_type", DEF, "—", one_of("normal"),
                  "no port is plugged for members, so no SR-IOV", accept=(None, "normal"),
                  reject=("direct",)),
        FieldRule("weight", SUP, "weight, normalised to LoxiLB percentages for weighted "
                  "round robin; 0 takes no new traffic", int_between(0, 256),
                  accept=(0, 1, 256), reject=(257, -1)),
    ),
    cross=(
        CrossRule("member_family", "member (and monitor) addresses are of the VIP's IP "
                  "family (checked when the VIP is known)", _member_family),
    ))


def _http_method_for_type(obj: Fields, ctx: Context) -> Problem | None:
    method, kind = obj.get("http_method"), obj.get("type")
    if method is None or kind not in HTTP_METHOD_FOR_TYPE:
        return None
    if method == HTTP_METHOD_FOR_TYPE[kind]:
        return None
    return Problem("http_method", f"{method} for a {kind} monitor",
                   f"LoxiLB's prober sends {HTTP_METHOD_FOR_TYPE[kind]} for {kind}")


def _timeout_within_delay(obj: Fields, ctx: Context) -> Problem | None:
    timeout, delay = obj.get("timeout"), obj.get("delay")
    if isinstance(timeout, int) and isinstance(delay, int) and timeout > delay:
        return Problem("timeout", f"{timeout} (delay {delay})",
                       "LoxiLB probes within the probe interval, so timeout must not "
                       "exceed delay")
    return None


HEALTHMONITOR = KindTable(
    kind="healthmonitors", label="Health monitor",
    fields=(
        FieldRule("admin_state_up", SUP, "false switches the members' probes to none "
                  "(members count as up)", is_bool, accept=(True, False), reject=("yes",)),
        FieldRule("delay", SUP, "probeDuration (s)", int_between(1, 86400, "s"),
                  accept=(1, 86400), reject=(0, 86401)),
        FieldRule("domain_name", REJ, "—", must_be_empty,
                  "LoxiLB's HTTP prober cannot set a Host header", accept=(None,),
                  reject=("www.example.com",)),
        FieldRule("expected_codes", SUP, "LoxiLB's prober passes on status 200 only",
                  one_of("200"), accept=(None, "200"), reject=("200-299", "200,202")),
        FieldRule("healthmonitor_id", INFO, "identifies the monitor", accept_any),
        FieldRule("http_method", SUP, "LoxiLB probes HTTP with HEAD and HTTPS with GET",
                  one_of("HEAD", "GET"), accept=(None, "HEAD", "GET"), reject=("POST",)),
        FieldRule("http_version", REJ, "—", must_be_empty,
                  "LoxiLB's prober picks its own HTTP version", accept=(None,),
                  reject=(1.1,)),
        FieldRule("max_retries", SUP, "accepted; LoxiLB re-enables an endpoint on its first "
                  "successful probe", int_between(1, 100), accept=(1, 10), reject=(0, 101)),
        FieldRule("max_retries_down", SUP, "inactiveReTries", int_between(1, 100),
                  accept=(1, 3, 100), reject=(0, 101)),
        FieldRule("name", INFO, "not sent to LoxiLB", accept_any),
        FieldRule("pool_id", INFO, "the monitored pool", accept_any),
        FieldRule("project_id", INFO, "not sent to LoxiLB", accept_any),
        FieldRule("timeout", SUP, "accepted when ≤ delay; LoxiLB's probes use fixed "
                  "timeouts (HTTP 2 s)", int_between(0, 86400, "s"), accept=(1, 5),
                  reject=(-1,)),
        FieldRule("type", SUP, "probeType tcp, udp, ping, http, https",
                  one_of(*HEALTH_MONITOR_TYPES), accept=HEALTH_MONITOR_TYPES,
                  reject=("TLS-HELLO", "SCTP")),
        FieldRule("url_path", SUP, "probeReq (the path after the leading /)", accept_any,
                  accept=(None, "/healthz")),
    ),
    cross=(
        CrossRule("http_method_for_type", "HTTP monitors use HEAD and HTTPS monitors GET",
                  _http_method_for_type),
        CrossRule("timeout_within_delay", "timeout must not exceed delay",
                  _timeout_within_delay),
    ))

L7_POLICIES = "L7 policies are not supported by the LoxiLB provider"
L7_RULES = "L7 rules are not supported by the LoxiLB provider"
_L7_WHY = "LoxiLB rules match L4 tuples only"

L7POLICY = KindTable(
    kind="l7policies", label="L7 policy", rejected=L7_POLICIES,
    fields=tuple(FieldRule(name, REJ, "—", must_be_empty, _L7_WHY) for name in (
        "action", "admin_state_up", "description", "l7policy_id", "listener_id", "name",
        "position", "project_id", "redirect_http_code", "redirect_pool_id",
        "redirect_prefix", "redirect_url", "rules")))

L7RULE = KindTable(
    kind="l7rules", label="L7 rule", rejected=L7_RULES,
    fields=tuple(FieldRule(name, REJ, "—", must_be_empty, _L7_WHY) for name in (
        "admin_state_up", "compare_type", "invert", "key", "l7policy_id", "l7rule_id",
        "project_id", "type", "value")))

TABLES: dict[str, KindTable] = {table.kind: table for table in (
    LOADBALANCER, LISTENER, POOL, MEMBER, HEALTHMONITOR, L7POLICY, L7RULE)}
