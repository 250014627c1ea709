"""Token authentication (API-NOTES §9): manual token, login flow, re-login, wrong tokens."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from octavia_loxilb.emulator.server import Emulator
from octavia_loxilb.loxilb import errors, models
from octavia_loxilb.loxilb.client import LoxiLBClient, NodeConfig
from tests.conftest import EmulatorFactory
from tests.contract.conftest import Raw

RULE = models.LoadBalancerRule(models.ServiceArguments("10.0.0.100", 80, "tcp"),
                               (models.Endpoint("10.0.1.10", 8080),))


def _client(node: Emulator, **auth: Any) -> LoxiLBClient:
    return LoxiLBClient(NodeConfig(node.base_url, retries=1, retry_backoff=0.01, **auth))


def test_manual_token_is_sent_raw_and_accepted(emulator_factory: EmulatorFactory) -> None:
    node = emulator_factory(datapath=False, manual_token="s3cr3t-token")
    with _client(node, token="s3cr3t-token") as client:
        assert client.apply_rule(RULE) is True
        assert [rule.key for rule in client.list_rules()] == [RULE.key]
    # The same token with a "Bearer " prefix is not what LoxiLB looks up.
    bearer = requests.get(node.url + "/config/loadbalancer/all",
                          headers={"Authorization": "Bearer s3cr3t-token"}, timeout=5)
    assert bearer.status_code == 500


def test_wrong_or_missing_manual_token_is_an_authentication_error(
    emulator_factory: EmulatorFactory,
) -> None:
    node = emulator_factory(datapath=False, manual_token="s3cr3t-token")
    with _client(node, token="not-it") as client:
        with pytest.raises(errors.AuthenticationError) as raised:
            client.list_rules()
        assert raised.value.status == 500  # LoxiLB's form, not 401 (§0.15)
        assert len(Raw(node).hook("GET", "calls").json()) == 1  # not retried
        with pytest.raises(errors.AuthenticationError):
            client.apply_rule(RULE)
        assert client.version().version  # /version needs no token
    with _client(node) as anonymous, pytest.raises(errors.AuthenticationError):
        anonymous.list_rules()


def test_login_flow_obtains_the_token_before_the_first_call(
    emulator_factory: EmulatorFactory,
) -> None:
    node = emulator_factory(datapath=False, users={"driver": "pw"})
    with _client(node, username="driver", password="pw") as client:
        assert client.apply_rule(RULE) is True
        paths = [c["path"] for c in Raw(node).hook("GET", "calls").json()]
        assert paths[:2] == ["/netlox/v1/auth/login", "/netlox/v1/config/loadbalancer"]
        token = client.login()
        assert token and client.list_rules()[0].key == RULE.key


def test_rejected_token_triggers_one_login_and_the_call_succeeds(
    emulator_factory: EmulatorFactory,
) -> None:
    node = emulator_factory(datapath=False, users={"driver": "pw"})
    with _client(node, username="driver", password="pw") as client:
        token = client.login()
        logout = requests.post(node.url + "/auth/logout", headers={"Authorization": token},
                               timeout=5)
        assert logout.status_code == 200
        raw = Raw(node)
        raw.hook("DELETE", "calls")
        assert client.list_rules() == []
        assert [(c["path"].removeprefix("/netlox/v1"), c["status"])
                for c in raw.hook("GET", "calls").json()] == [
            ("/config/loadbalancer/all", 500),
            ("/auth/login", 200),
            ("/config/loadbalancer/all", 200),
        ]


def test_wrong_password_is_an_authentication_error(emulator_factory: EmulatorFactory) -> None:
    node = emulator_factory(datapath=False, users={"driver": "pw"})
    with _client(node, username="driver", password="wrong") as client:
        with pytest.raises(errors.AuthenticationError, match="no token"):
            client.login()
        with pytest.raises(errors.AuthenticationError):
            client.list_rules()


def test_unknown_user_is_an_authentication_error(emulator_factory: EmulatorFactory) -> None:
    node = emulator_factory(datapath=False, users={"driver": "pw"})
    with _client(node, username="nobody", password="pw") as client:
        with pytest.raises(errors.AuthenticationError, match="unknown user") as raised:
            client.login()
        assert raised.value.status == 404


def test_login_without_a_user_service_is_a_server_error(emulator: Emulator) -> None:
    with _client(emulator, username="driver", password="pw") as client:
        with pytest.raises(errors.ServerError) as raised:
            client.login()
        assert raised.value.status == 501
