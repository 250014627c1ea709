"""Request decoding and schema checks the way go-swagger does them (API-NOTES §1.3, §0.20).

Two passes, as in LoxiLB: Go's ``encoding/json`` decode (syntax errors first, then the first
type mismatch, both 400; keys matched case-insensitively, unknown keys ignored), then the
generated ``Validate`` (required 602, enum 606, both 422, first error only, fields in the
generated code's alphabetical order). Decoded bodies come back as plain dicts keyed by the
schema's canonical field names, with zero values filled in for absent optional fields.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from octavia_loxilb.emulator.errors import FrameworkError, unprocessable

REQUIRED_CODE = 602
ENUM_CODE = 606
INVALID_TYPE_CODE = 601

_INT_RANGES: dict[str, tuple[int, int]] = {
    "int64": (-(2**63), 2**63 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "uint64": (0, 2**64 - 1),
    "uint32": (0, 2**32 - 1),
    "uint16": (0, 2**16 - 1),
    "uint8": (0, 2**8 - 1),
}


@dataclasses.dataclass(frozen=True)
class Field:
    """One property of a swagger model; ``fmt`` is the Go integer type it decodes into."""

    name: str
    kind: str
    required: bool = False
    enum: tuple[Any, ...] | None = None
    fmt: str = "int64"
    item: Schema | None = None


@dataclasses.dataclass(frozen=True)
class Schema:
    """A swagger model: ``go_name`` appears in decode errors, fields in validation order."""

    go_name: str
    fields: tuple[Field, ...]

    def field_for(self, key: str) -> Field | None:
        """Go's key matching: exact name first, then case-insensitive (§0.20)."""
        for field in self.fields:
            if field.name == key:
                return field
        lowered = key.lower()
        for field in self.fields:
            if field.name.lower() == lowered:
                return field
        return None


def _s(name: str, **kw: Any) -> Field:
    return Field(name, "string", **kw)


def _i(name: str, **kw: Any) -> Field:
    return Field(name, "integer", **kw)


def _b(name: str) -> Field:
    return Field(name, "boolean")


SERVICE_ARGUMENTS = Schema(
    "LoadbalanceEntryServiceArguments",
    (
        _b("bgp"),
        _i("block", fmt="uint32"),
        _b("egress"),
        _s("externalIP", required=True),
        _s("host"),
        _i("inactiveTimeOut", fmt="int32"),
        _b("managed"),
        _i("mode", fmt="int32", enum=(0, 1, 2, 3, 4, 5)),
        _b("monitor"),
        _s("name"),
        _i("oper", fmt="int32", enum=(0, 1, 2)),
        _i("port", required=True),
        _i("portMax"),
        _s("privateIP"),
        _i("probeRetries", fmt="int32"),
        _i("probeTimeout", fmt="uint32"),
        _i("probeport", fmt="uint16"),
        _s("probereq"),
        _s("proberesp"),
        _s("probetype", enum=("tcp", "udp", "sctp", "http", "https", "ping", "none")),
        _s("protocol", enum=("tcp", "udp", "sctp", "icmp")),
        _b("proxyprotocolv2"),
        _i("security", fmt="int32", enum=(0, 1, 2)),
        _i("sel", enum=(0, 1, 2, 3, 4, 5, 6)),
        _b("snat"),
    ),
)

LB_ENDPOINT = Schema(
    "LoadbalanceEntryEndpointsItems0",
    (
        _s("counter"),
        _s("endpointIP", required=True),
        _s("state"),
        _i("targetPort", required=True),
        _i("weight", required=True),
    ),
)

LOADBALANCE_ENTRY = Schema(
    "LoadbalanceEntry",
    (
        Field(
            "allowedSources",
            "array",
            item=Schema("LoadbalanceEntryAllowedSourcesItems0", (_s("prefix"),)),
        ),
        Field("endpoints", "array", required=True, item=LB_ENDPOINT),
        Field(
            "secondaryIPs",
            "array",
            item=Schema("LoadbalanceEntrySecondaryIPsItems0", (_s("secondaryIP"),)),
        ),
        Field("serviceArguments", "object", required=True, item=SERVICE_ARGUMENTS),
    ),
)

END_POINT = Schema(
    "EndPoint",
    (
        _s("hostName", required=True),
        _i("inactiveReTries"),
        _s("name"),
        _i("probeDuration"),
        _i("probePort"),
        _s("probeReq"),
        _s("probeResp"),
        _s("probeType", enum=("tcp", "udp", "sctp", "ping", "http", "https", "none")),
    ),
)

END_POINT_HOST_STATE = Schema(
    "EndPointHostState", (_i("epPort"), _s("epProto"), _s("hostName"), _s("state"))
)

CI_STATUS = Schema("CIStatusEntry", (_s("instance"), _s("state"), _s("vip")))

BFD_ENTRY = Schema(
    "BfdEntry",
    (
        _s("instance"),
        _i("interval", fmt="uint64"),
        _s("remoteIp"),
        _i("retryCount", fmt="uint8"),
        _s("sourceIp"),
    ),
)

IPV4_ADDRESS = Schema(
    "IPv4AddressEntry", (_s("dev", required=True), _s("ipAddress", required=True))
)

ROUTE_ENTRY = Schema(
    "RouteEntry",
    (_s("destinationIPNet", required=True), _s("gateway", required=True), _s("protocol")),
)

LOGIN = Schema("AuthLogin", (_s("password"), _s("username")))


class _Pairs(list[tuple[str, Any]]):
    """A JSON object as its ordered key/value pairs, so duplicate keys decode like Go."""


_JSON_KIND = {str: "string", bool: "bool", int: "number", float: "number", list: "array"}


def _json_kind(value: Any) -> str:
    if isinstance(value, _Pairs):
        return "object"
    return _JSON_KIND.get(type(value), "value")


def _go_type(field: Field, schema: Schema) -> str:
    if field.kind == "integer":
        return field.fmt
    if field.kind == "boolean":
        return "bool"
    if field.kind == "array":
        return f"[]*models.{field.item.go_name if field.item else 'any'}"
    if field.kind == "object":
        return f"models.{field.item.go_name if field.item else 'any'}"
    return "string"


class _TypeMismatch(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _mismatch(value: Any, field: Field, schema: Schema, path: str) -> _TypeMismatch:
    shown = json.dumps(value) if isinstance(value, int | float) else _json_kind(value)
    kind = _json_kind(value)
    what = f"number {shown}" if kind == "number" else kind
    return _TypeMismatch(
        f"json: cannot unmarshal {what} into Go struct field "
        f"{schema.go_name}.{path} of type {_go_type(field, schema)}"
    )


def _decode_value(value: Any, field: Field, schema: Schema, path: str) -> Any:
    if field.kind == "string":
        if not isinstance(value, str):
            raise _mismatch(value, field, schema, path)
        return value
    if field.kind == "boolean":
        if not isinstance(value, bool):
            raise _mismatch(value, field, schema, path)
        return value
    if field.kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            raise _mismatch(value, field, schema, path)
        low, high = _INT_RANGES[field.fmt]
        if not low <= value <= high:
            raise _mismatch(value, field, schema, path)
        return value
    assert field.item is not None
    if field.kind == "object":
        if not isinstance(value, _Pairs):
            raise _mismatch(value, field, schema, path)
        return _decode_object(value, field.item, path)
    if not isinstance(value, list) or isinstance(value, _Pairs):
        raise _mismatch(value, field, schema, path)
    items = []
    for entry in value:
        if entry is None:
            continue
        if not isinstance(entry, _Pairs):
            raise _mismatch(entry, field, schema, path)
        items.append(_decode_object(entry, field.item, path))
    return items


def _decode_object(pairs: _Pairs, schema: Schema, prefix: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        field = schema.field_for(key)
        if field is None:
            continue
        path = f"{prefix}.{field.name}" if prefix else field.name
        if value is None:
            # Go leaves a value field untouched on null and nils a (required) pointer field.
            if field.required:
                out[field.name] = None
            continue
        out[field.name] = _decode_value(value, field, schema, path)
    return out


_ZERO = {"string": "", "integer": 0, "boolean": False, "array": None, "object": None}


def _validate(obj: dict[str, Any], schema: Schema, prefix: str) -> None:
    for field in schema.fields:
        path = prefix + field.name
        value = obj.get(field.name)
        if value is None:
            if field.required:
                raise unprocessable(REQUIRED_CODE, f"{path} in body is required")
            obj[field.name] = _ZERO[field.kind]
            continue
        if field.enum is not None and value != _ZERO[field.kind] and value not in field.enum:
            choices = " ".join(str(choice) for choice in field.enum)
            raise unprocessable(ENUM_CODE, f"{path} in body should be one of [{choices}]")
        if field.kind == "array" and field.item is not None:
            for index, item in enumerate(value):
                _validate(item, field.item, f"{path}.{index}.")
        elif field.kind == "object" and field.item is not None:
            # go-swagger prefixes inline objects twice (API-NOTES §1.3).
            _validate(value, field.item, f"{path}.{path}.")


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def decode_body(raw: bytes, content_type: str | None, schema: Schema) -> dict[str, Any]:
    """Decode and validate a request body, raising the framework error LoxiLB would send."""
    if raw.strip():
        media = _media_type(content_type)
        if media != "application/json":
            shown = media or "application/octet-stream"
            raise FrameworkError(
                415,
                415,
                f'unsupported media type "{shown}", only [application/json] are allowed',
            )
    else:
        raise unprocessable(REQUIRED_CODE, "attr in body is required")
    try:
        parsed = json.loads(raw, object_pairs_hook=_Pairs)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _bad_body(f"invalid character: {exc}") from None
    if parsed is None:
        parsed = _Pairs()
    if not isinstance(parsed, _Pairs):
        kind = _json_kind(parsed)
        target = f"models.{schema.go_name}"
        raise _bad_body(f"json: cannot unmarshal {kind} into Go value of type {target}")
    try:
        body = _decode_object(parsed, schema, "")
    except _TypeMismatch as exc:
        raise _bad_body(exc.message) from None
    _validate(body, schema, "")
    return body


def _bad_body(reason: str) -> FrameworkError:
    return FrameworkError(400, 400, f'parsing attr body from "" failed, because {reason}')


def number_param(name: str, value: str, where: str = "path") -> float:
    """A swagger ``number`` parameter; a non-number is 422 code 601."""
    try:
        return float(value)
    except ValueError:
        raise unprocessable(
            INVALID_TYPE_CODE, f'{name} in {where} must be of type number: "{value}"'
        ) from None


def integer_param(name: str, value: str, where: str = "path") -> int:
    """A swagger ``integer`` parameter; a non-integer is 422 code 601."""
    try:
        return int(value)
    except ValueError:
        raise unprocessable(
            INVALID_TYPE_CODE, f'{name} in {where} must be of type integer: "{value}"'
        ) from None


def bool_param(name: str, value: str, where: str = "query") -> bool:
    """A swagger ``boolean`` parameter, parsed as Go's ``strconv.ParseBool``."""
    lowered = value.strip()
    if lowered in ("1", "t", "T", "true", "TRUE", "True"):
        return True
    if lowered in ("0", "f", "F", "false", "FALSE", "False"):
        return False
    raise unprocessable(INVALID_TYPE_CODE, f'{name} in {where} must be of type boolean: "{value}"')


def go_uint(value: float | int, bits: int) -> int:
    """Go's conversion of a number to ``uintN``: truncation modulo 2**bits."""
    return int(value) % (1 << bits)
