"""``octavia-loxilb-manage --config-file octavia.conf db upgrade|current``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from oslo_config import cfg

from octavia_loxilb.cmd import manage_lb
from octavia_loxilb.conf import register_opts
from octavia_loxilb.db import migrations, session


def _add_db_commands(subparsers: argparse._SubParsersAction) -> None:
    db = subparsers.add_parser("db", help="the driver's database schema")
    actions = db.add_subparsers(dest="action")
    actions.required = True
    upgrade = actions.add_parser("upgrade", help="apply migrations up to a revision")
    upgrade.add_argument("revision", nargs="?", default="head")
    actions.add_parser("current", help="print the schema's revision and the code's head")
    manage_lb.add_commands(subparsers)


def _conf(argv: Sequence[str]) -> cfg.ConfigOpts:
    conf = register_opts(cfg.ConfigOpts())
    conf.register_cli_opt(
        cfg.SubCommandOpt("category", title="commands", handler=_add_db_commands)
    )
    conf(list(argv), project="octavia", prog="octavia-loxilb-manage")
    return conf


def main(argv: Sequence[str] | None = None) -> int:
    conf = _conf(sys.argv[1:] if argv is None else argv)
    if conf.category.name == "lb":
        return manage_lb.run(conf)
    engine = session.create_engine(conf.loxilb_database.connection)
    try:
        if conf.category.action == "upgrade":
            migrations.upgrade(engine, conf.category.revision)
            print(f"upgraded to {migrations.current_revision(engine)}")
        else:
            current = migrations.current_revision(engine)
            head = migrations.head_revision()
            state = "current" if current == head else "behind"
            print(f"current: {current or 'none'}  head: {head}  ({state})")
    finally:
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
