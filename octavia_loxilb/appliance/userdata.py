"""The user data an appliance boots with (``doc/appliance-user-data.md``, format 1).

Everything the appliance needs to come up arrives here, so nothing is ever configured over
SSH: its TLS server certificate and key, the CA whose client certificates it accepts, the
names of its interfaces by MAC, and its HA peers.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence

from octavia_loxilb.appliance import certs

FORMAT_VERSION = 1


@dataclasses.dataclass(frozen=True)
class HASettings:
    instance: str
    peers: tuple[str, ...]
    self_index: int


def render(*, api_port: int, management_network_id: str, server: certs.Issued,
           client_ca_pem: bytes, interfaces: Mapping[str, str],
           ha: HASettings | None = None, loxilb: Mapping[str, object] | None = None) -> str:
    """The document as a ``#cloud-config`` text (JSON body, which cloud-init reads as YAML).

    ``interfaces`` maps MAC → interface name for the ports the server boots with.
    """
    document: dict[str, object] = {
        "loxilb_appliance": FORMAT_VERSION,
        "api_port": api_port,
        "management_network_id": management_network_id,
        "tls": {"cert": server.cert_pem.decode(), "key": server.key_pem.decode(),
                "client_ca": client_ca_pem.decode()},
        "interfaces": [{"mac": mac.lower(), "name": name}
                       for mac, name in sorted(interfaces.items(), key=lambda i: i[1])],
    }
    if loxilb:
        document["loxilb"] = dict(loxilb)
    if ha is not None:
        document["ha"] = {"instance": ha.instance, "peers": list(ha.peers),
                          "self": ha.self_index}
    return "#cloud-config\n" + json.dumps(document, indent=1, sort_keys=True) + "\n"


def parse(text: str) -> dict[str, object]:
    """The document back from its text (for tests and diagnostics)."""
    body = text.split("\n", 1)[1] if text.startswith("#cloud-config") else text
    document = json.loads(body)
    if not isinstance(document, dict) or document.get("loxilb_appliance") != FORMAT_VERSION:
        raise ValueError("not a LoxiLB appliance user-data document")
    return document


def interface_names(macs: Sequence[str]) -> dict[str, str]:
    """``eth0``, ``eth1``... for the boot ports in boot order (management first)."""
    return {mac.lower(): f"eth{index}" for index, mac in enumerate(macs)}
