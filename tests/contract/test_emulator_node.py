"""HA, BFD, ports, addresses, routes, status and metrics: API-NOTES §5, §6 and §8."""

from __future__ import annotations

from octavia_loxilb.emulator.model import PortSpec
from tests.conftest import EmulatorFactory
from tests.contract.conftest import Raw, assert_loxi_error, rule_body


def test_version(raw: Raw, emulator_factory: EmulatorFactory) -> None:
    """§8.1: ``{"version","buildInfo"}``, the version configurable."""
    body = raw.get("/version").json()
    assert body["version"] == "0.9.8.8"
    assert set(body) == {"version", "buildInfo"}
    old = Raw(emulator_factory(datapath=False, version="0.9.8.4-beta"))
    assert old.get("/version").json()["version"] == "0.9.8.4-beta"


def test_status_and_metrics(raw: Raw) -> None:
    """§8.2/§8.3: status shapes; /metrics is the JSON string in v0.9.8.8."""
    assert "processAttr" in raw.get("/status/process").json()
    device = raw.get("/status/device").json()
    assert {"hostName", "uptime", "OS", "kernel"} <= set(device)
    metrics = raw.get("/metrics")
    assert (metrics.status_code, metrics.json()) == (200, "Prometheus option is disabled.")


def test_conntrack_empty_without_datapath(raw: Raw) -> None:
    """§8.4: ``{"ctAttr":[...]}``."""
    assert raw.get("/config/conntrack/all").json() == {"ctAttr": []}


def test_cistate_lifecycle(raw: Raw) -> None:
    """§5.1: llb-inst0 exists; unknown instances are created; same state is a no-op."""
    assert raw.get("/config/cistate/all").json() == {
        "Attr": [{"instance": "llb-inst0", "state": "NOT_DEFINED", "sync": None, "vip": "0.0.0.0"}]
    }
    bad = raw.post("/config/cistate", {"instance": "llb-inst0", "state": "master"})
    assert_loxi_error(bad, 400, "invalid cluster-state")
    assert raw.post("/config/cistate", {"instance": "i1", "state": "MASTER", "vip": "10.0.0.9"})
    assert raw.post("/config/cistate", {"instance": "i1", "state": "MASTER", "vip": "10.0.0.8"})
    states = {s["instance"]: s for s in raw.get("/config/cistate/all").json()["Attr"]}
    assert states["i1"] == {"instance": "i1", "state": "MASTER", "sync": None, "vip": "10.0.0.9"}


def test_bfd_sessions(raw: Raw) -> None:
    """§5.2: not running → 500; instance must exist; interval floor; delete by instance."""
    assert_loxi_error(raw.get("/config/bfd/all"), 500, "bfd session not running")
    session = {
        "instance": "llb-inst0",
        "remoteIp": "10.1.0.2",
        "sourceIp": "10.1.0.1",
        "interval": 200000,
        "retryCount": 3,
    }
    assert_loxi_error(
        raw.post("/config/bfd", {**session, "instance": "nope"}), 404, "cluster instance not found"
    )
    assert_loxi_error(
        raw.post("/config/bfd", {**session, "interval": 50000}), 500, "bfd interval too low"
    )
    assert raw.post("/config/bfd", session).json() == {"result": "Success"}
    (listed,) = raw.get("/config/bfd/all").json()["Attr"]
    assert listed["sourceIP"] == "10.1.0.1"
    assert listed["port"] == 3784
    assert_loxi_error(
        raw.delete("/config/bfd/remoteIP/10.1.0.2"), 404, "cluster instance not found"
    )
    assert raw.delete("/config/bfd/remoteIP/10.1.0.2?instance=llb-inst0").ok
    assert raw.get("/config/bfd/all").json() == {"Attr": []}


def test_ports_default_and_declared(raw: Raw, emulator_factory: EmulatorFactory) -> None:
    """§6.1: lo and eth0 by default; declared interfaces with MAC and first address."""
    names = [p["portName"] for p in raw.get("/config/port/all").json()["portAttr"]]
    assert names == ["lo", "eth0"]
    node = emulator_factory(
        datapath=False,
        ports=[PortSpec("eth1", "FA:16:3E:00:00:01", ["10.2.0.5/24", "10.2.0.6/24"])],
    )
    (port,) = Raw(node).get("/config/port/all").json()["portAttr"]
    assert port["portName"] == "eth1"
    assert port["portHardwareInformation"]["macAddress"] == "fa:16:3e:00:00:01"
    assert port["portHardwareInformation"]["rawMacAddress"] == [250, 22, 62, 0, 0, 1]
    assert port["portL3Information"]["IPv4Address"] == ["10.2.0.5/24 (P) "]
    assert port["portL3Information"]["IPv6Address"] == [""]


def test_ipv4_addresses(raw: Raw) -> None:
    """§6.2: add, duplicate fails with 200 fail, delete; failures never change status."""
    assert raw.post("/config/ipv4address", {"dev": "eth0", "ipAddress": "10.3.0.5/24"}).json() == {
        "result": "Success"
    }
    dup = raw.post("/config/ipv4address", {"dev": "eth0", "ipAddress": "10.3.0.5/24"})
    assert (dup.status_code, dup.json()) == (200, {"result": "fail"})
    table = {e["dev"]: e["ipAddress"] for e in raw.get("/config/ipv4address/all").json()["ipAttr"]}
    assert table["eth0"] == ["192.168.80.10/24", "10.3.0.5/24"]
    assert raw.delete("/config/ipv4address/10.3.0.5/24/dev/eth0").json() == {"result": "Success"}
    gone = raw.delete("/config/ipv4address/10.3.0.5/24/dev/eth0")
    assert (gone.status_code, gone.json()) == (200, {"result": "fail"})


def test_vip_pseudo_device_and_master_plumbing(raw: Raw) -> None:
    """§5.3/§6.2: NOT_DEFINED VIPs show as llb-rule-<VIP>; MASTER puts in-subnet VIPs on lo."""
    raw.post("/config/loadbalancer", rule_body(vip="192.168.80.50"))
    raw.post("/config/loadbalancer", rule_body(vip="172.16.0.1"))

    def table() -> dict[str, list[str]]:
        attrs = raw.get("/config/ipv4address/all").json()["ipAttr"]
        return {e["dev"]: e["ipAddress"] for e in attrs}

    assert table()["llb-rule-192.168.80.50"] == ["192.168.80.50/32"]
    assert table()["llb-rule-172.16.0.1"] == ["172.16.0.1/32"]
    raw.post("/config/cistate", {"instance": "llb-inst0", "state": "MASTER", "vip": ""})
    after = table()
    assert not any(dev.startswith("llb-rule-") for dev in after)
    assert after["lo"] == ["127.0.0.1/8", "192.168.80.50/32"]


def test_routes(raw: Raw) -> None:
    """§6.3: add, list, duplicate 409, delete, missing 404."""
    route = {"destinationIPNet": "10.5.0.0/16", "gateway": "192.168.80.1"}
    assert raw.post("/config/route", route).json() == {"result": "Success"}
    assert raw.post("/config/route", route).status_code == 409
    (listed,) = raw.get("/config/route/all").json()["routeAttr"]
    assert (listed["destinationIPNet"], listed["gateway"], listed["protocol"]) == (
        "10.5.0.0/16",
        "192.168.80.1",
        "static",
    )
    assert raw.delete("/config/route/destinationIPNet/10.5.0.0/16").ok
    assert raw.delete("/config/route/destinationIPNet/10.5.0.0/16").status_code == 404


def test_route_gateway_must_be_on_a_connected_subnet(raw: Raw) -> None:
    """§6.3: the route goes to the kernel, which refuses a gateway off every subnet of the
    node's addresses (ENETUNREACH, a 500 by §1.2); the default route is a route like any."""
    off_link = {"destinationIPNet": "10.6.0.0/16", "gateway": "10.99.0.1", "protocol": "static"}
    assert_loxi_error(raw.post("/config/route", off_link), 500, "network is unreachable")
    default = {"destinationIPNet": "0.0.0.0/0", "gateway": "192.168.80.1", "protocol": "static"}
    assert raw.post("/config/route", default).json() == {"result": "Success"}
    (listed,) = raw.get("/config/route/all").json()["routeAttr"]
    assert (listed["destinationIPNet"], listed["gateway"]) == ("0.0.0.0/0", "192.168.80.1")
    assert raw.delete("/config/route/destinationIPNet/0.0.0.0/0").ok
    assert raw.get("/config/route/all").json() == {"routeAttr": []}


def test_bgp_calls_report_bgp_disabled(raw: Raw) -> None:
    """§7: without BGP mode the BGP endpoints answer ``403 loxilb BGP mode is disabled``."""
    response = raw.post("/config/bgp/neigh", {"ipAddress": "10.0.0.1", "remoteAs": 65001})
    assert_loxi_error(response, 403, "loxilb BGP mode is disabled")
