"""What every appliance task needs, handed to TaskFlow as one stored value."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from typing import Any

from octavia_loxilb.appliance.cert_store import CertificateStore
from octavia_loxilb.appliance.compute import CloudAPI
from octavia_loxilb.appliance.store import ApplianceStore
from octavia_loxilb.loxilb.client import LoxiLBClient
from octavia_loxilb.loxilb.transport import NodeConfig


def api_url(address: str, port: int) -> str:
    host = f"[{address}]" if ":" in address else address
    return f"https://{host}:{port}"


@dataclasses.dataclass
class Services:
    """The cloud, the driver's records and certificates, and LoxiLB clients for appliances."""

    conf: Any
    cloud: CloudAPI
    store: ApplianceStore
    certs: CertificateStore
    sleep: Callable[[float], None] = time.sleep
    _clients: dict[str, LoxiLBClient] = dataclasses.field(default_factory=dict)
    _lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)

    @property
    def opts(self) -> Any:
        return self.conf.loxilb_appliance

    def node_config(self, url: str) -> NodeConfig:
        return appliance_node_config(self.conf, self.certs, url)

    def client(self, address: str) -> LoxiLBClient:
        """A (cached) client for the appliance at ``address``."""
        url = api_url(address, self.opts.api_port)
        with self._lock:
            client = self._clients.get(url)
            if client is None:
                client = LoxiLBClient(self.node_config(url))
                self._clients[url] = client
            return client

    def forget_client(self, address: str) -> None:
        with self._lock:
            client = self._clients.pop(api_url(address, self.opts.api_port), None)
        if client is not None:
            client.close()

    def close(self) -> None:
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()


def appliance_node_config(conf: Any, certs: CertificateStore, url: str) -> NodeConfig:
    """How a worker reaches an appliance of any group: mutual TLS with the driver's client
    certificate, trusting only the driver's CA."""
    files = certs.client_tls_files()
    base = conf.loxilb
    return NodeConfig(url=url, timeout_connect=base.api_timeout_connect,
                      timeout_read=base.api_timeout_read, retries=base.api_retries,
                      retry_backoff=base.api_retry_backoff, ca_file=files.ca_file,
                      cert_file=files.cert_file, key_file=files.key_file)
