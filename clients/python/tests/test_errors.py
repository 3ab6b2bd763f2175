"""Status details decoding, without a server."""

import grpc
import pytest

from featurestore_client.errors import FeatureStoreError, _parse_status_details, from_rpc_error


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _field(number: int, payload) -> bytes:
    if isinstance(payload, int):
        return _varint(number << 3) + _varint(payload)
    if isinstance(payload, str):
        payload = payload.encode()
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _any(type_name: str, payload: bytes) -> bytes:
    return _field(1, "type.googleapis.com/" + type_name) + _field(2, payload)


def _status(*details: bytes) -> bytes:
    return _field(1, 7) + _field(2, "denied") + b"".join(_field(3, d) for d in details)


def _error_info(reason: str, domain: str, **metadata: str) -> bytes:
    md = b"".join(_field(3, _field(1, k) + _field(2, v)) for k, v in metadata.items())
    return _any("google.rpc.ErrorInfo", _field(1, reason) + _field(2, domain) + md)


class _FakeRpcError(grpc.RpcError):
    def __init__(self, code, details, trailers):
        self._code, self._details, self._trailers = code, details, trailers

    def code(self):
        return self._code

    def details(self):
        return self._details

    def trailing_metadata(self):
        return self._trailers


def test_reason_metadata_and_field_violations():
    bad_request = _any(
        "google.rpc.BadRequest",
        _field(1, _field(1, "product_ids") + _field(2, "give 1 to 1000")),
    )
    details = _status(
        _error_info("OTHER", "other.domain"),
        _error_info("API_KEY_SHOP_DENIED", "featurestore.v1", shop="s1", key="trainer"),
        bad_request,
    )
    reason, metadata, violations = _parse_status_details(details)
    assert reason == "API_KEY_SHOP_DENIED"
    assert metadata == {"shop": "s1", "key": "trainer"}
    assert violations == [("product_ids", "give 1 to 1000")]


def test_from_rpc_error():
    details = _status(_error_info("SHOP_UNKNOWN", "featurestore.v1"))
    err = from_rpc_error(
        _FakeRpcError(grpc.StatusCode.NOT_FOUND, "no shop x", (("grpc-status-details-bin", details),))
    )
    assert isinstance(err, FeatureStoreError)
    assert (err.code, err.reason, err.message) == (grpc.StatusCode.NOT_FOUND, "SHOP_UNKNOWN", "no shop x")
    assert str(err) == "NOT_FOUND [SHOP_UNKNOWN]: no shop x"


@pytest.mark.parametrize(
    "details",
    [b"\x1a\x05ab", b"\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", b"\x0f"],
    ids=["truncated", "long varint", "bad wire type"],
)
def test_malformed_details_keep_code_and_message(details):
    err = from_rpc_error(_FakeRpcError(grpc.StatusCode.INTERNAL, "boom", (("grpc-status-details-bin", details),)))
    assert (err.code, err.message, err.reason) == (grpc.StatusCode.INTERNAL, "boom", "")
    with pytest.raises(ValueError):
        _parse_status_details(details)
