"""Scale: worker memory with 10,000 load balancers, and resync of 1,000 after a restart.

Resync set-up: an in-process LoxiLB emulator (real REST API, data path off: VIPs are
10.x addresses no loopback socket can bind, and the figure is the control plane's), a SQLite
placement database, tooz file locks and the real ``worker.resync.Resyncer`` with 8
threads. ``RESYNC_LBS`` load balancers (each 2 TCP listeners × 10 members, as in
``plan_scale``) are placed and a first cycle fills the node; the emulator is then restarted
(``/_emulator/restart`` wipes every rule, as a LoxiLB restart does) and the next cycle is
timed until it returns, after which every rule is checked back. Trees are served from
memory through the ``library`` hook instead of the driver-agent: what is timed is the
worker's own work and LoxiLB's. Through a real driver-agent each tree read adds its round
trip (``job_phases``: about 0.1-0.3 s on this machine), spread over the resync threads.
The comparison is the first cycle that filled the empty node.

Memory set-up: a fresh Python process (``python -m bench.scale --rss N``) holding what a
worker holds with N load balancers placed: the placements in its database (SQLite), the
pool → load balancer memory filled from N trees, and one dry-run resync cycle over all N
(every tree read, translated and planned against an empty node; nothing written). Its peak
RSS (``ru_maxrss``) is reported against the same process before any load balancer (imports
and engine only). The trees and the node are in-process; a real worker holds them only for
the length of a cycle.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from octavia_lib.api.drivers import data_models as dm

from bench.plan_scale import lb_tree
from bench.report import Figure

RESYNC_LBS = 1000
"""The target size (issue 6: < 30 s). A cycle reads each node's rule table twice however
many load balancers it repairs, so this takes seconds, not minutes."""
RSS_LBS = 10000


class Trees:
    """The driver-agent's ``get_loadbalancer``, answered from memory."""

    def __init__(self, count: int) -> None:
        self.trees = {f"lb{n}": lb_tree(n) for n in range(count)}

    def get_loadbalancer(self, lb_id: str) -> dm.LoadBalancer | None:
        tree = self.trees.get(lb_id)
        return None if tree is None else dm.LoadBalancer.from_dict(tree)


def _worker_parts(workdir: Path, node_url: str) -> tuple[Any, Any, Any, Any]:
    from oslo_config import cfg

    from octavia_loxilb.conf import register_opts
    from octavia_loxilb.db import migrations
    from octavia_loxilb.db.session import create_engine
    from octavia_loxilb.worker.locking import LoadBalancerLocks
    from octavia_loxilb.worker.placement import Placer

    conf = register_opts(cfg.ConfigOpts())
    conf([], project="octavia-loxilb-bench")
    for name, value in {"api_endpoints": [node_url], "resync_threads": 8,
                        "coordination_url": f"file://{workdir}/locks"}.items():
        conf.set_override(name, value, group="loxilb")
    engine = create_engine(f"sqlite:///{workdir}/state.sqlite")
    migrations.upgrade(engine)
    placer = Placer(engine, conf)
    locks = LoadBalancerLocks(conf.loxilb.coordination_url, "bench-scale")
    locks.start()
    return conf, engine, placer, locks


def _place_all(engine: Any, placer: Any, trees: Trees) -> None:
    """Every LB placed on the default group, in one transaction (set-up, not timed)."""
    from octavia_loxilb.db import api as db_api
    from octavia_loxilb.db.session import session_scope

    group = placer.default_group()
    with session_scope(engine) as session:
        for lb_id, tree in trees.trees.items():
            db_api.create_placement(session, lb_id, group.id, tree["vip_address"])


def resync_after_restart(count: int = RESYNC_LBS) -> tuple[float, float, int]:
    """(first fill seconds, resync-after-restart seconds, rules back) for ``count`` LBs."""
    import urllib.request

    from octavia_loxilb.emulator.server import Emulator, EmulatorConfig
    from octavia_loxilb.worker.resync import Resyncer

    trees = Trees(count)
    node = Emulator(EmulatorConfig(datapath=False)).start()
    workdir = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    conf, engine, placer, locks = _worker_parts(workdir, node.base_url)
    try:
        _place_all(engine, placer, trees)
        resyncer = Resyncer(conf, engine=engine, placer=placer, locks=locks,
                            library=lambda: trees)
        began = time.monotonic()
        resyncer.run()
        fill = time.monotonic() - began
        urllib.request.urlopen(urllib.request.Request(
            node.base_url + "/_emulator/restart", method="POST"), timeout=30).close()
        began = time.monotonic()
        resyncer.run()
        again = time.monotonic() - began
        with urllib.request.urlopen(node.base_url + "/netlox/v1/config/loadbalancer/all",
                                    timeout=60) as resp:
            back = len(json.load(resp)["lbAttr"])
        return fill, again, back
    finally:
        locks.stop()
        placer.close()
        engine.dispose()
        node.stop()


def _rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _hold(count: int) -> dict[str, float]:
    """In a fresh process: peak RSS before and after holding ``count`` LBs' worth."""
    from octavia_loxilb.emulator.server import Emulator, EmulatorConfig
    from octavia_loxilb.worker import octavia_reader
    from octavia_loxilb.worker.resync import Resyncer

    node = Emulator(EmulatorConfig(datapath=False)).start()
    workdir = Path(tempfile.mkdtemp(prefix="bench-rss-"))
    conf, engine, placer, locks = _worker_parts(workdir, node.base_url)
    before = _rss_mb()
    trees = Trees(count)
    _place_all(engine, placer, trees)
    for tree in trees.trees.values():
        octavia_reader.pool_owners.remember(tree)
    Resyncer(conf, engine=engine, placer=placer, locks=locks,
             library=lambda: trees).run(dry_run=True)
    after = _rss_mb()
    locks.stop()
    node.stop()
    return {"before": before, "after": after}


def run(resync_lbs: int = RESYNC_LBS, rss_lbs: int = RSS_LBS) -> list[Figure]:
    out = subprocess.run([sys.executable, "-m", "bench.scale", "--rss", str(rss_lbs)],
                         capture_output=True, text=True, check=True, timeout=900)
    rss = json.loads(out.stdout.strip().splitlines()[-1])
    fill, again, back = resync_after_restart(resync_lbs)
    return [
        Figure(f"worker peak RSS, {rss_lbs} LBs placed + one resync cycle", "MB",
               rss["after"], compared_with="same process before any LB",
               baseline_median=rss["before"], target="< 300 MB"),
        Figure(f"resync of {resync_lbs} LBs after LoxiLB restart ({back} rules back)", "s",
               again, compared_with="first fill of the empty node", baseline_median=fill,
               target="< 30 s"),
    ]


if __name__ == "__main__":
    if sys.argv[1:2] == ["--rss"]:
        print(json.dumps(_hold(int(sys.argv[2]))))
