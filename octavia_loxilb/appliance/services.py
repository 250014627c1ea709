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
    _health_clients: dict[str, LoxiLBClient] = dataclasses.field(default_factory=dict)
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

    def health_client(self, address: str) -> LoxiLBClient:
        """A (cached) client for health checks: the short ``health_check_timeout`` and
        ``health_check_retries``, so a dead appliance is declared within seconds."""
        url = api_url(address, self.opts.api_port)
        with self._lock:
            client = self._health_clients.get(url)
            if client is None:
                client = LoxiLBClient(dataclasses.replace(
                    self.node_config(url), timeout_connect=self.opts.health_check_timeout,
                    timeout_read=self.opts.health_check_timeout,
                    retries=self.opts.health_check_retries))
                self._health_clients[url] = client
            return client

    def forget_client(self, address: str) -> None:
        url = api_url(address, self.opts.api_port)
        with self._lock:
            gone = [c for c in (self._clients.pop(url, None),
                                self._health_clients.pop(url, None)) if c is not None]
        for client in gone:
            client.close()

    def close(self) -> None:
        with self._lock:
            gone = [*self._clients.values(), *self._health_clients.values()]
            self._clients.clear()
            self._health_clients.clear()
        for client in gone:
            client.close()


def appliance_node_config(conf: Any, certs: CertificateStore, url: str) -> NodeConfig:
    """How a worker reaches an appliance of any group: mutual TLS with the driver's client
    certificate, trusting only the driver's CA."""
    files = certs.client_tls_files()
    base = conf.loxilb
    return NodeConfig(url=url, timeout_connect=base.api_timeout_connect,
                      timeout_read=base.api_timeout_read, retries=base.api_retries,
                      retry_backoff=base.api_retry_backoff, ca_file=files.ca_file,
                      cert_file=files.cert_file, key_file=files.key_file)
