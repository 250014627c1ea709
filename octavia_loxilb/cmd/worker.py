"""``octavia-loxilb-worker --config-file octavia.conf``: serve jobs until SIGTERM/SIGINT.

Reads Octavia's own configuration file: ``[DEFAULT] transport_url`` for the message bus and
the ``[loxilb]`` / ``[loxilb_database]`` sections for everything of ours. On SIGTERM the
worker stops taking jobs and finishes the running ones (bounded by
``[loxilb] graceful_shutdown_timeout``) so none is cut off between converge and status push.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

import oslo_messaging
from oslo_config import cfg
from oslo_log import log as logging

from octavia_loxilb.conf import register_opts
from octavia_loxilb.db.migrations import SchemaNotCurrent

LOG = logging.getLogger(__name__)


def prepare(argv: Sequence[str]) -> cfg.ConfigOpts:
    """Options registered and parsed, logging set up (oslo.log, Octavia's [DEFAULT] keys)."""
    from octavia_loxilb.worker.service import CONTROL_EXCHANGE

    oslo_messaging.set_transport_defaults(control_exchange=CONTROL_EXCHANGE)
    conf = cfg.CONF
    register_opts(conf)
    logging.register_options(conf)
    conf(list(argv), project="octavia", prog="octavia-loxilb-worker")
    logging.setup(conf, "octavia-loxilb-worker")
    return conf


def main(argv: Sequence[str] | None = None) -> int:
    conf = prepare(sys.argv[1:] if argv is None else argv)
    from octavia_loxilb.worker.service import WorkerService

    stopping = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        LOG.info("Signal %d received: finishing running jobs", signum)
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    service = WorkerService(conf)
    try:
        service.start()
    except SchemaNotCurrent as exc:
        LOG.error("Refusing to start: %s", exc)
        print(f"octavia-loxilb-worker: {exc}", file=sys.stderr)
        return 2
    while not stopping.wait(1.0):
        pass
    stopper = threading.Thread(target=service.stop, name="stopper", daemon=True)
    stopper.start()
    stopper.join(conf.loxilb.graceful_shutdown_timeout)
    if stopper.is_alive():
        LOG.warning("Jobs still running after %.0fs; exiting anyway",
                    conf.loxilb.graceful_shutdown_timeout)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
