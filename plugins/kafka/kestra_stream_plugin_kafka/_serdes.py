"""Kestra's ``SerdeType`` values turned into bytes and back, as the Java (de)serializers do.

Numbers are big-endian and fixed-width (Kafka's IntegerSerializer, LongSerializer ...), text is
UTF-8, JSON is compact UTF-8 JSON. Execution variables hold JSON values only, so raw bytes read
with BYTES, BYTE_ARRAY or BYTE_BUFFER come out base64-encoded, as Kestra's JSON shows a
``byte[]``. AVRO and PROTOBUF need a schema registry, which kestra-stream has no client for:
they are refused when the flow is loaded.
"""

from __future__ import annotations

import base64
import json
import math
import struct
import uuid
from enum import StrEnum
from typing import Any

UNSUPPORTED = ("AVRO", "PROTOBUF")


class SerdeType(StrEnum):
    STRING = "STRING"
    # Not one of Kestra's names; accepted as a synonym of STRING (text is always UTF-8 here).
    UTF8 = "UTF8"
    INTEGER = "INTEGER"
    FLOAT = "FLOAT"
    DOUBLE = "DOUBLE"
    LONG = "LONG"
    SHORT = "SHORT"
    BYTE_ARRAY = "BYTE_ARRAY"
    BYTE_BUFFER = "BYTE_BUFFER"
    BYTES = "BYTES"
    UUID = "UUID"
    VOID = "VOID"
    JSON = "JSON"


class SerdeError(ValueError):
    """A value cannot be written, or bytes cannot be read, with the chosen serde type."""


def parse_serde(value: Any, prop: str) -> Any:
    """A before-validator's view of a ``keySerializer``-like property: upper case, AVRO refused."""
    if not isinstance(value, str):
        return value
    name = value.strip().upper()
    if name in UNSUPPORTED:
        raise ValueError(f"`{prop}: {name}` is not supported by kestra-stream (it has no schema registry "
                         "client); use JSON, STRING or BYTES instead")
    return name


_FIXED = {SerdeType.INTEGER: ">i", SerdeType.LONG: ">q", SerdeType.SHORT: ">h",
          SerdeType.FLOAT: ">f", SerdeType.DOUBLE: ">d"}
_RAW = (SerdeType.BYTES, SerdeType.BYTE_ARRAY, SerdeType.BYTE_BUFFER)


def serialize(serde: SerdeType, value: Any) -> bytes | None:
    """The bytes Kafka's serializer of ``serde`` writes for ``value``; None stays None (a null key or tombstone)."""
    if value is None or serde == SerdeType.VOID:
        return None
    if serde in (SerdeType.STRING, SerdeType.UTF8):
        return _text(value).encode()
    if serde == SerdeType.JSON:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
    if serde in _FIXED:
        return _number(serde, value)
    if serde in _RAW:
        if isinstance(value, bytes | bytearray):
            return bytes(value)
        if isinstance(value, str):
            return value.encode()
        if isinstance(value, list) and all(isinstance(b, int) and 0 <= b <= 255 for b in value):
            return bytes(value)
        raise SerdeError(f"{serde} needs text (sent as UTF-8) or a list of byte values, got {type(value).__name__}")
    try:
        return uuid.UUID(str(value)).bytes
    except ValueError as exc:
        raise SerdeError(f"{value!r} is not a UUID") from exc


def deserialize(serde: SerdeType, data: bytes | None) -> Any:
    """The JSON value Kafka's deserializer of ``serde`` reads from ``data`` (None for a null key or value)."""
    if data is None or serde == SerdeType.VOID:
        return None
    if serde in (SerdeType.STRING, SerdeType.UTF8):
        return data.decode("utf-8", errors="replace")
    if serde == SerdeType.JSON:
        try:
            return json.loads(data)
        except ValueError as exc:
            raise SerdeError(f"the bytes are not JSON ({exc}): {data[:80]!r}") from exc
    if serde in _FIXED:
        fmt = _FIXED[serde]
        if len(data) != struct.calcsize(fmt):
            raise SerdeError(f"{serde} needs exactly {struct.calcsize(fmt)} bytes, got {len(data)}")
        number = struct.unpack(fmt, data)[0]
        if isinstance(number, float) and not math.isfinite(number):
            return str(number)  # JSON has no NaN / Infinity
        return number
    if serde in _RAW:
        return base64.b64encode(data).decode()
    if len(data) != 16:
        raise SerdeError(f"UUID needs exactly 16 bytes, got {len(data)}")
    return str(uuid.UUID(bytes=data))


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode()
    # A map or a list under a STRING serializer: its JSON text is the only sensible string.
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _number(serde: SerdeType, value: Any) -> bytes:
    fmt = _FIXED[serde]
    try:
        number: int | float = float(value) if serde in (SerdeType.FLOAT, SerdeType.DOUBLE) else _integer(value)
        return struct.pack(fmt, number)
    except (ValueError, TypeError, struct.error) as exc:
        raise SerdeError(f"{value!r} cannot be written as {serde}: {exc}") from exc


def _integer(value: Any) -> int:
    if isinstance(value, bool):
        raise TypeError("a boolean is not a number")
    if isinstance(value, float) and not value.is_integer():
        raise ValueError("it has a fractional part")
    return int(value)
