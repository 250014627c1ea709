"""Pure parts of the appliance lifecycle: the spec a flavor asks for, member subnets, roles
of a topology, the user-data document."""

from __future__ import annotations

from typing import Any

import pytest
from oslo_config import cfg

from octavia_loxilb.appliance import certs, groups, topology, userdata
from octavia_loxilb.conf import register_opts


@pytest.fixture
def conf() -> cfg.ConfigOpts:
    conf = register_opts(cfg.ConfigOpts())
    conf([], project="octavia-loxilb-test")
    for key, value in (("image_id", "img"), ("compute_flavor_id", "flv"),
                       ("management_network_id", "mgmt"), ("availability_zone", "az0")):
        conf.set_override(key, value, group="loxilb_appliance")
    return conf


def _tree(**extra: Any) -> dict[str, Any]:
    return {"vip_network_id": "net-1", "flavor": {"deployment": "appliance"}, **extra}


def test_only_the_appliance_deployment_wants_appliances() -> None:
    assert groups.wants_appliances(_tree())
    assert not groups.wants_appliances({"flavor": None})
    assert not groups.wants_appliances({"flavor": {"deployment": "external"}})


def test_spec_takes_flavor_and_zone_over_the_options(conf: cfg.ConfigOpts) -> None:
    default = groups.spec_for(_tree(), conf)
    assert (default.topology, default.image, default.compute_flavor,
            default.availability_zone) == ("SINGLE", "img", "flv", "az0")
    chosen = groups.spec_for(_tree(flavor={"deployment": "appliance", "image": "i2",
                                           "compute_flavor": "f2",
                                           "topology": "ACTIVE_STANDBY"},
                                   availability_zone={"compute_zone": "az9"}), conf)
    assert (chosen.topology, chosen.image, chosen.compute_flavor,
            chosen.availability_zone) == ("ACTIVE_STANDBY", "i2", "f2", "az9")
    assert chosen.key != default.key
    assert groups.ApplianceSpec.from_json(chosen.to_json()) == chosen


def test_load_balancers_of_one_build_share_a_key(conf: cfg.ConfigOpts) -> None:
    assert groups.spec_for(_tree(), conf).key == groups.spec_for(_tree(), conf).key
    other_network = groups.spec_for(_tree(vip_network_id="net-2"), conf)
    assert other_network.key != groups.spec_for(_tree(), conf).key


def test_spec_names_what_is_missing(conf: cfg.ConfigOpts) -> None:
    conf.clear_override("image_id", group="loxilb_appliance")
    with pytest.raises(groups.SpecError, match="image"):
        groups.spec_for(_tree(), conf)


def test_member_subnets_leave_out_leaving_members_and_pools() -> None:
    tree = {"pools": [
        {"pool_id": "p1", "members": [{"member_id": "m1", "subnet_id": "s1"},
                                      {"member_id": "m2", "subnet_id": "s2"},
                                      {"member_id": "m3", "subnet_id": None}]},
        {"pool_id": "p2", "members": [{"member_id": "m4", "subnet_id": "s4"}]}]}
    assert groups.member_subnets(tree) == {"s1", "s2", "s4"}
    assert groups.member_subnets(tree, leaving={"m2", "p2"}) == {"s1"}
    assert groups.member_subnets({"pools": None}) == set()


def test_roles_per_topology() -> None:
    assert topology.roles("SINGLE") == [None]
    assert topology.roles("ACTIVE_STANDBY") == ["MASTER", "BACKUP"]
    with pytest.raises(ValueError, match="ACTIVE_ACTIVE"):
        topology.roles("ACTIVE_ACTIVE")


def test_user_data_round_trips_and_follows_the_contract() -> None:
    ca = certs.create_ca(1)
    server = certs.issue_server(ca, "a1", "127.42.0.5", 1)
    text = userdata.render(
        api_port=8091, management_network_id="mgmt", server=server,
        client_ca_pem=ca.cert_pem,
        interfaces=userdata.interface_names(["FA:16:3E:00:00:01", "fa:16:3e:00:00:02"]),
        ha=userdata.HASettings("llb-inst0", ("127.42.0.6",), 0))
    assert text.startswith("#cloud-config\n")
    document = userdata.parse(text)
    assert document["loxilb_appliance"] == 1 and document["api_port"] == 8091
    assert document["interfaces"] == [{"mac": "fa:16:3e:00:00:01", "name": "eth0"},
                                      {"mac": "fa:16:3e:00:00:02", "name": "eth1"}]
    assert document["tls"] == {"cert": server.cert_pem.decode(),
                               "key": server.key_pem.decode(),
                               "client_ca": ca.cert_pem.decode()}
    assert document["ha"] == {"instance": "llb-inst0", "peers": ["127.42.0.6"], "self": 0}
    with pytest.raises(ValueError):
        userdata.parse('{"something": 1}')
