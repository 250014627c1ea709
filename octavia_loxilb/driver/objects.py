"""Uniform, Unset-free access to the objects Octavia hands the driver.

Octavia passes ``octavia_lib`` data models whose unset fields hold ``Unset``, but nested
children arrive either as data models or as plain dicts depending on the code path (a
listener's ``default_pool`` is a dict on ``listener_update``, a ``Pool`` on a fully
populated create). Everything in the driver reads objects through :func:`fields_of`, which
flattens both shapes to a plain dict holding only the fields that are set.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from octavia_lib.api.drivers.data_models import BaseDataModel, UnsetType

Fields = dict[str, Any]

ID_FIELD = {
    "loadbalancers": "loadbalancer_id",
    "listeners": "listener_id",
    "pools": "pool_id",
    "members": "member_id",
    "healthmonitors": "healthmonitor_id",
    "l7policies": "l7policy_id",
    "l7rules": "l7rule_id",
}


def is_set(value: Any) -> bool:
    return not isinstance(value, UnsetType)


def fields_of(obj: Any) -> Fields:
    """The set fields of a data model or dict (``None`` and non-objects give ``{}``)."""
    if isinstance(obj, BaseDataModel):
        items: Iterable[tuple[str, Any]] = vars(obj).items()
    elif isinstance(obj, Mapping):
        items = obj.items()
    else:
        return {}
    return {k: v for k, v in items if not k.startswith("_") and is_set(v)}


def merged(old: Any, new: Any) -> Fields:
    """``old`` with ``new``'s set fields applied: what an update will leave in place."""
    result = fields_of(old)
    result.update(fields_of(new))
    return result


def children(obj: Fields, field: str) -> list[Fields]:
    """The nested objects under ``field`` (a list, a single object or nothing)."""
    value = obj.get(field)
    if value is None:
        return []
    if isinstance(value, (BaseDataModel, Mapping)):
        return [fields_of(value)]
    if isinstance(value, (list, tuple)):
        return [fields_of(item) for item in value if item is not None]
    return []


def object_id(kind: str, obj: Fields) -> str | None:
    value = obj.get(ID_FIELD[kind])
    return str(value) if value else None
