"""Options of the provider driver that runs inside ``octavia-api``.

The driver only validates and casts; the transport is Octavia's own ``[DEFAULT]
transport_url``, so the driver needs just the topic the workers listen on and how hard a
cast may try before the API call fails (the call runs inside Octavia's DB transaction, so
it must never block for long).
"""

from __future__ import annotations

from oslo_config import cfg

GROUP = "loxilb"

OPTS: list[cfg.Opt] = [
    cfg.StrOpt(
        "rpc_topic",
        default="octavia_loxilb_worker",
        help="oslo.messaging topic the octavia-loxilb workers listen on. The provider "
             "driver in octavia-api casts every accepted change to this topic; every "
             "worker process of a deployment must use the same value.",
    ),
    cfg.IntOpt(
        "rpc_cast_retries",
        default=3,
        min=0,
        help="How many times the provider driver retries a cast when the message bus "
             "is unreachable before failing the API request (which Octavia then rolls "
             "back). The driver runs inside octavia-api's database transaction, so this "
             "bounds how long an API call can wait for the bus.",
    ),
]
