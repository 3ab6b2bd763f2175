"""Errors of the featurestore client.

Every failed call raises FeatureStoreError, which carries the gRPC status
code, the server's message and the ``google.rpc.ErrorInfo`` reason that the
server attaches to every error (the README's "Error reasons" table lists
them), so that a caller can switch on ``err.reason`` rather than parse
messages.
"""

from __future__ import annotations

from typing import Dict, Iterator, List, Optional, Tuple

import grpc

# ERROR_DOMAIN is the ErrorInfo domain of the service's reasons.
ERROR_DOMAIN = "featurestore.v1"

_STATUS_DETAILS_KEY = "grpc-status-details-bin"
_ERROR_INFO_TYPE = "type.googleapis.com/google.rpc.ErrorInfo"
_BAD_REQUEST_TYPE = "type.googleapis.com/google.rpc.BadRequest"


class FeatureStoreError(Exception):
    """FeatureStoreError is a call the server (or the connection) refused.

    Attributes:
        code: the grpc.StatusCode of the answer.
        message: the server's message, which names what to fix.
        reason: the ErrorInfo reason in the featurestore.v1 domain
            (``"SHOP_UNKNOWN"``, ``"API_KEY_SCOPE_MISSING"``, ...), or ``""``
            when the status has none (CANCELLED, DEADLINE_EXCEEDED, or a
            failure of the connection rather than of the server).
        metadata: the ErrorInfo's metadata (``{"scope": "export", ...}``).
        field_violations: ``(field, description)`` pairs of a
            ``google.rpc.BadRequest`` detail: the request fields at fault.
    """

    def __init__(
        self,
        code: grpc.StatusCode,
        message: str,
        reason: str = "",
        metadata: Optional[Dict[str, str]] = None,
        field_violations: Optional[List[Tuple[str, str]]] = None,
    ) -> None:
        self.code = code
        self.message = message
        self.reason = reason
        self.metadata = dict(metadata or {})
        self.field_violations = list(field_violations or [])
        super().__init__(str(self))

    def __str__(self) -> str:
        reason = f" [{self.reason}]" if self.reason else ""
        return f"{self.code.name}{reason}: {self.message}"


def from_rpc_error(err: grpc.RpcError) -> FeatureStoreError:
    """from_rpc_error turns a failed call into a FeatureStoreError with the
    reason and field violations of the status details, if any."""
    code = err.code() if hasattr(err, "code") else grpc.StatusCode.UNKNOWN
    message = err.details() if hasattr(err, "details") else str(err)
    reason, metadata, violations = "", {}, []
    trailers = err.trailing_metadata() if hasattr(err, "trailing_metadata") else None
    for key, value in trailers or ():
        if key != _STATUS_DETAILS_KEY or not isinstance(value, bytes):
            continue
        try:
            reason, metadata, violations = _parse_status_details(value)
        except ValueError:
            # Details that do not parse leave the code and message, which
            # still say what happened.
            pass
    return FeatureStoreError(code or grpc.StatusCode.UNKNOWN, message or "", reason, metadata, violations)


def _parse_status_details(data: bytes) -> Tuple[str, Dict[str, str], List[Tuple[str, str]]]:
    """_parse_status_details reads the ErrorInfo and BadRequest details of
    a serialized google.rpc.Status.

    The messages are read from the wire format directly (a handful of
    length-delimited fields), so the client needs no googleapis package.
    """
    reason, metadata, violations = "", {}, []
    for number, value in _fields(data):
        if number != 3 or not isinstance(value, bytes):  # Status.details
            continue
        type_url, payload = "", b""
        for n, v in _fields(value):  # google.protobuf.Any
            if n == 1 and isinstance(v, bytes):
                type_url = v.decode("utf-8", "replace")
            elif n == 2 and isinstance(v, bytes):
                payload = v
        if type_url == _ERROR_INFO_TYPE:
            r, domain, md = _parse_error_info(payload)
            if domain == ERROR_DOMAIN and not reason:
                reason, metadata = r, md
        elif type_url == _BAD_REQUEST_TYPE:
            violations.extend(_parse_bad_request(payload))
    return reason, metadata, violations


def _parse_error_info(data: bytes) -> Tuple[str, str, Dict[str, str]]:
    reason, domain, metadata = "", "", {}
    for number, value in _fields(data):
        if not isinstance(value, bytes):
            continue
        if number == 1:
            reason = value.decode("utf-8", "replace")
        elif number == 2:
            domain = value.decode("utf-8", "replace")
        elif number == 3:  # map<string, string> entry
            entry = {n: v for n, v in _fields(value) if isinstance(v, bytes)}
            metadata[entry.get(1, b"").decode("utf-8", "replace")] = entry.get(2, b"").decode("utf-8", "replace")
    return reason, domain, metadata


def _parse_bad_request(data: bytes) -> Iterator[Tuple[str, str]]:
    for number, value in _fields(data):
        if number == 1 and isinstance(value, bytes):  # field_violations
            fv = {n: v for n, v in _fields(value) if isinstance(v, bytes)}
            yield fv.get(1, b"").decode("utf-8", "replace"), fv.get(2, b"").decode("utf-8", "replace")


def _fields(data: bytes) -> Iterator[Tuple[int, object]]:
    """_fields yields (field number, value) of a protobuf message: ints for
    varints and fixed-width fields, bytes for length-delimited ones. It
    raises ValueError on malformed input."""
    i, n = 0, len(data)
    while i < n:
        key, i = _varint(data, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(data, i)
            yield number, value
        elif wire == 1:
            if i + 8 > n:
                raise ValueError("truncated fixed64")
            yield number, int.from_bytes(data[i : i + 8], "little")
            i += 8
        elif wire == 2:
            length, i = _varint(data, i)
            if i + length > n:
                raise ValueError("truncated length-delimited field")
            yield number, data[i : i + length]
            i += length
        elif wire == 5:
            if i + 4 > n:
                raise ValueError("truncated fixed32")
            yield number, int.from_bytes(data[i : i + 4], "little")
            i += 4
        else:
            raise ValueError(f"unsupported wire type {wire}")


def _varint(data: bytes, i: int) -> Tuple[int, int]:
    result, shift = 0, 0
    while True:
        if i >= len(data) or shift > 63:
            raise ValueError("malformed varint")
        b = data[i]
        i += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, i
        shift += 7
