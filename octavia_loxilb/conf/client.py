"""Options of the LoxiLB REST client: where the operator-run nodes are and how to reach them.

The same transport settings (timeouts, retries, TLS, auth) apply to every node the driver
talks to, including appliances it boots; only the endpoint list is specific to the
operator-run cluster.
"""

from __future__ import annotations

from oslo_config import cfg

GROUP = "loxilb"

OPTS: list[cfg.Opt] = [
    cfg.ListOpt(
        "api_endpoints",
        default=["http://127.0.0.1:11111"],
        help="Base URLs (scheme://host:port, without /netlox/v1) of the operator-run LoxiLB "
        "cluster nodes. Every node of the list receives every rule.",
    ),
    cfg.FloatOpt(
        "api_timeout_connect",
        default=3.0,
        min=0.1,
        help="Seconds to wait for a TCP (and TLS) connection to a LoxiLB node.",
    ),
    cfg.FloatOpt(
        "api_timeout_read",
        default=30.0,
        min=0.1,
        help="Seconds to wait for a LoxiLB answer once the request is sent. A rule POST "
        "returns only after the datapath is programmed, so keep this generous.",
    ),
    cfg.IntOpt(
        "api_retries",
        default=3,
        min=0,
        help="Extra attempts for a LoxiLB call that failed transiently (connection error, "
        "timeout, 5xx on reads and deletes, 503 on writes). 0 disables retries.",
    ),
    cfg.FloatOpt(
        "api_retry_backoff",
        default=0.5,
        min=0.0,
        help="Delay in seconds before the first retry; it doubles on each further retry "
        "(with a little jitter), capped at 10 seconds.",
    ),
    cfg.StrOpt(
        "api_token",
        secret=True,
        help="Token sent as the raw Authorization header (LoxiLB --manualtoken, or a token "
        "obtained out of band). Leave unset when LoxiLB runs without authentication.",
    ),
    cfg.StrOpt(
        "api_username",
        help="User for POST /auth/login (LoxiLB --userservice). When set together with "
        "api_password the client logs in to obtain its token and logs in again once when "
        "the token is rejected.",
    ),
    cfg.StrOpt(
        "api_password",
        secret=True,
        help="Password for api_username.",
    ),
    cfg.StrOpt(
        "api_ca_file",
        help="CA bundle used to verify the certificate of HTTPS LoxiLB endpoints. Unset "
        "means the system trust store.",
    ),
    cfg.StrOpt(
        "api_cert_file",
        help="Client certificate (PEM) presented to HTTPS LoxiLB endpoints, for TLS "
        "terminators that require one.",
    ),
    cfg.StrOpt(
        "api_key_file",
        help="Private key (PEM) of api_cert_file; unset when the key is inside that file.",
    ),
    cfg.BoolOpt(
        "api_insecure",
        default=False,
        help="Skip verification of LoxiLB HTTPS certificates. For tests only.",
    ),
    cfg.IntOpt(
        "api_pool_maxsize",
        default=10,
        min=1,
        help="Kept-alive HTTP connections per LoxiLB node (the most concurrent calls to one "
        "node that do not open a new connection).",
    ),
]
