"""Reconcile: translate an Octavia tree to desired LoxiLB state, plan, apply, verify.

Callers need ``translate`` (Octavia tree → ``DesiredState``), ``Reconciler`` (converge the
nodes) and, for a dry run, ``Reconciler.converge(..., dry_run=True)``; see
``doc/reconciler.md``.
"""

from octavia_loxilb.reconcile.apply import ConvergeResult, ListenerResult, NodeResult, Reconciler
from octavia_loxilb.reconcile.desired import DesiredRule, DesiredState, Scope, TranslateSettings
from octavia_loxilb.reconcile.plan import Plan, plan
from octavia_loxilb.reconcile.translate import translate

__all__ = [
    "ConvergeResult",
    "DesiredRule",
    "DesiredState",
    "ListenerResult",
    "NodeResult",
    "Plan",
    "Reconciler",
    "Scope",
    "TranslateSettings",
    "plan",
    "translate",
]
