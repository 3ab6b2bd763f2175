"""The featurestore gRPC client."""

from __future__ import annotations

import datetime as _dt
import logging
import os
import re
import sys
import time
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, List, NamedTuple, Optional, Sequence, Tuple, Union

import grpc
import pandas as pd
from google.protobuf import timestamp_pb2

from ._proto.featurestore.v1 import featurestore_pb2 as pb
from ._proto.featurestore.v1 import featurestore_pb2_grpc as pb_grpc
from .errors import FeatureStoreError, from_rpc_error
from .frames import Catalogue, empty_frame, records_frame
from .matrix import FeatureMatrix, LayoutMismatch, concat_matrices, matrix_from_response

log = logging.getLogger("featurestore_client")

# API_KEY_ENV is the environment variable Client reads the API key from
# when none is given, as the featurestore command does.
API_KEY_ENV = "FEATURESTORE_API_KEY"

# MAX_MESSAGE_BYTES bounds one received message: a StreamFeatures batch of
# 10,000 rows is about 3 MB, a GetFeatures answer of 1,000 rows 0.3 MB.
MAX_MESSAGE_BYTES = 64 << 20

# MAX_PAIRS_PER_CALL is the most products, or (customer, product) pairs,
# one GetFeatures call may ask for: the server refuses more.
MAX_PAIRS_PER_CALL = 1000

TimeLike = Union[_dt.datetime, str, pd.Timestamp]

# Pairs is what get_features_for_pairs reads: (customer_id, product_id)
# pairs, or a frame with those two columns.
Pairs = Union[Iterable[Tuple[str, str]], pd.DataFrame]


@dataclass(frozen=True)
class Progress:
    """Progress is one progress report of a compute run."""

    events_read: int
    order_lines_read: int
    pairs_computed: int
    pairs_written: int
    elapsed: _dt.timedelta


@dataclass(frozen=True)
class ComputeSummary:
    """ComputeSummary holds the totals of a finished compute run."""

    shop_id: str
    mode: str  # "full" or "incremental"
    as_of: _dt.datetime
    features_version: int
    events_read: int
    order_lines_read: int
    pairs_written: int
    pairs_deleted: int
    started_at: _dt.datetime
    duration: _dt.timedelta


_MODES = {
    "full": pb.COMPUTE_MODE_FULL,
    "incremental": pb.COMPUTE_MODE_INCREMENTAL,
}


class Client:
    """Client calls a featurestore server.

    Args:
        target: the server's address, ``host:port``.
        api_key: the API key (``fsk_...``) sent with every call; default:
            the environment variable FEATURESTORE_API_KEY. Its scopes decide
            what may be called: ``read`` for get_features and describe,
            ``export`` for stream_features and to_pandas, ``compute`` for
            compute.
        tls: False for plaintext (a server on loopback or behind a
            terminating proxy), True for TLS with the system's roots (or
            ``ca_cert``), or grpc.ChannelCredentials of your own.
        ca_cert, client_cert, client_key: PEM bytes or file paths: the
            authorities to trust instead of the system's, and a client
            certificate for a server that requires one (--tls-client-ca).
            Giving any of them implies TLS.
        server_name: the name the server's certificate must have, when it
            differs from the host of ``target``.
        timeout: seconds every unary call may take (get_features,
            describe); streams have no deadline unless given one.
        options: further grpc channel options.

    A Client holds one channel (one HTTP/2 connection, which gRPC re-opens
    when it drops); it is safe to share between threads. Close it, or use
    it as a context manager.
    """

    def __init__(
        self,
        target: str,
        api_key: Optional[str] = None,
        tls: Union[bool, grpc.ChannelCredentials] = False,
        *,
        ca_cert: Union[bytes, str, None] = None,
        client_cert: Union[bytes, str, None] = None,
        client_key: Union[bytes, str, None] = None,
        server_name: Optional[str] = None,
        timeout: Optional[float] = 30.0,
        options: Sequence[Tuple[str, object]] = (),
    ) -> None:
        if not target:
            raise ValueError("target: is empty; give the server's host:port")
        if (client_cert is None) != (client_key is None):
            raise ValueError("client_cert and client_key: give both or neither")
        opts = {
            "grpc.max_receive_message_length": MAX_MESSAGE_BYTES,
            "grpc.max_send_message_length": MAX_MESSAGE_BYTES,
            # The channel reconnects on the schedule of the streams' own
            # retries, rather than failing their calls for up to two
            # minutes after the connection dropped. (Each connection
            # attempt still has gRPC's 20 s: min_reconnect_backoff_ms.)
            "grpc.initial_reconnect_backoff_ms": 250,
            "grpc.max_reconnect_backoff_ms": 5000,
        }
        if server_name:
            opts["grpc.ssl_target_name_override"] = server_name
        opts.update(options)
        opts = list(opts.items())
        creds = None
        if isinstance(tls, grpc.ChannelCredentials):
            creds = tls
        elif tls or ca_cert is not None or client_cert is not None:
            creds = grpc.ssl_channel_credentials(
                root_certificates=_pem(ca_cert),
                private_key=_pem(client_key),
                certificate_chain=_pem(client_cert),
            )
        elif server_name:
            raise ValueError("server_name: applies to TLS only; set tls=True or ca_cert")
        if creds is None:
            self._channel = grpc.insecure_channel(target, options=opts)
        else:
            self._channel = grpc.secure_channel(target, creds, options=opts)
        self._stub = pb_grpc.FeatureStoreServiceStub(self._channel)
        key = api_key if api_key is not None else os.environ.get(API_KEY_ENV, "")
        self._metadata = (("authorization", "Bearer " + key),) if key else ()
        self._timeout = timeout
        self._catalogue: Optional[Catalogue] = None
        self.target = target

    def close(self) -> None:
        """close closes the channel; calls in flight are cancelled."""
        self._channel.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------ catalogue --

    def catalogue(self, refresh: bool = False) -> Catalogue:
        """catalogue returns the server's feature catalogue (DescribeFeatures),
        asked once and then remembered unless refresh is set."""
        if self._catalogue is None or refresh:
            resp = self._unary(self._stub.DescribeFeatures, pb.DescribeFeaturesRequest())
            self._catalogue = Catalogue.from_proto(resp)
        return self._catalogue

    def describe(self) -> pd.DataFrame:
        """describe returns the catalogue as a frame: one feature a row with
        its type, nullability, range, dense index, categories and
        description."""
        return self.catalogue(refresh=True).to_pandas()

    # --------------------------------------------------------------- online --

    def get_features(
        self,
        shop: str,
        customer: str,
        products: Iterable[str],
        *,
        format: str = "pandas",
        timeout: Optional[float] = None,
    ) -> Union[pd.DataFrame, FeatureMatrix]:
        """get_features reads one customer's features for up to 1,000
        products, answered in the order asked (duplicates included).

        With ``format="pandas"`` (the default) it returns a DataFrame, one
        row per product, with the ``found`` column False where the pair has
        no interactions. With ``format="matrix"`` it returns a FeatureMatrix:
        ``.values`` is a float32 array of rows x the dense layout of the
        catalogue, NaN where a feature is NULL and on the rows not found,
        which ``numpy.frombuffer`` reads from the answer without decoding a
        field.
        """
        wire_format = _wire_format(format)
        products = list(products)
        req = pb.GetFeaturesRequest(shop_id=shop, customer_id=customer, product_ids=products, format=wire_format)
        return self._get_features([_Call(req, 0, None, products)], wire_format, timeout)

    def get_features_for_pairs(
        self,
        shop: str,
        pairs: Pairs,
        *,
        format: str = "pandas",
        timeout: Optional[float] = None,
    ) -> Union[pd.DataFrame, FeatureMatrix]:
        """get_features_for_pairs reads the features of (customer, product)
        pairs of any customers, answered in the order asked (duplicates
        included): the rows of a training set, or the candidates of
        several customers to rank at once.

        ``pairs`` is an iterable of ``(customer_id, product_id)`` tuples
        (``zip(customers, products)`` is one), or a DataFrame with the
        columns ``customer_id`` and ``product_id`` (its other columns, such
        as labels, are ignored). Ids are non-empty strings; anything else
        raises ValueError naming the pair at fault, before any call.

        The answer is the one of get_features: with ``format="pandas"`` a
        DataFrame with the columns ``customer_id``, ``product_id``,
        ``found``, the features, ``as_of``, ``computed_at`` and
        ``features_version``, one row per pair, indexed like the frame
        given (so that it lines up with it) or else 0..n-1; with
        ``format="matrix"`` a FeatureMatrix whose ``customer_ids`` and
        ``product_ids`` are the pairs.

        A call asks for at most 1,000 pairs (MAX_PAIRS_PER_CALL): more are
        read in consecutive calls of 1,000, each with ``timeout``, and put
        together in the order asked. Those calls are not one snapshot: a
        compute run that ends between two of them shows in the rows after
        it (``computed_at`` tells them apart).
        """
        wire_format = _wire_format(format)
        customers, products, index = _pairs(pairs)

        def calls() -> Iterator[_Call]:
            for start in range(0, len(products), MAX_PAIRS_PER_CALL):
                cs = customers[start : start + MAX_PAIRS_PER_CALL]
                ps = products[start : start + MAX_PAIRS_PER_CALL]
                keys = [pb.FeatureKey(customer_id=c, product_id=p) for c, p in zip(cs, ps)]
                yield _Call(pb.GetFeaturesRequest(shop_id=shop, keys=keys, format=wire_format), start, cs, ps)

        out = self._get_features(calls(), wire_format, timeout)
        if index is not None:
            out.index = index
        return out

    def _get_features(
        self, calls: Iterable["_Call"], wire_format: int, timeout: Optional[float]
    ) -> Union[pd.DataFrame, FeatureMatrix]:
        """_get_features makes the GetFeatures calls in turn and puts their
        answers together, in the order of the calls."""
        if wire_format == pb.FORMAT_RECORDS:
            results: List[pb.FeatureResult] = []
            for call in calls:
                resp = self._get(call, timeout)
                if len(resp.results) != len(call.products):
                    raise FeatureStoreError(
                        grpc.StatusCode.INTERNAL,
                        f"malformed answer: {len(resp.results)} results for {len(call.products)} asked",
                    )
                results.extend(resp.results)
            found = [r.status == pb.FEATURE_STATUS_FOUND for r in results]
            return records_frame([r.record for r in results], self.catalogue(), found=found)
        catalogue = self.catalogue()
        parts: List[FeatureMatrix] = []
        for call in calls:
            resp = self._get(call, timeout)
            try:
                part = matrix_from_response(resp, call.products, catalogue, call.customers)
            except LayoutMismatch:
                # The server's layout changed since the catalogue was
                # read: read it again, once.
                previous = catalogue.version
                catalogue = self.catalogue(refresh=True)
                part = matrix_from_response(resp, call.products, catalogue, call.customers)
                if parts:
                    raise LayoutMismatch(
                        f"the server's dense layout changed from version {previous} to {catalogue.version} "
                        f"between the calls of one read, after {call.offset} rows; read again"
                    ) from None
            parts.append(part)
        return concat_matrices(parts)

    def _get(self, call: "_Call", timeout: Optional[float]) -> pb.GetFeaturesResponse:
        """_get makes one GetFeatures call. The server names a bad pair by
        its place in the call (keys[i]); the error names its place in all
        the pairs asked."""
        try:
            return self._unary(self._stub.GetFeatures, call.req, timeout)
        except FeatureStoreError as err:
            if call.offset:
                raise _shift_keys(err, call.offset) from None
            raise

    # ----------------------------------------------------------------- bulk --

    def stream_features(
        self,
        shop: str,
        *,
        batch_size: int = 1000,
        customer_ids: Optional[Iterable[str]] = None,
        updated_since: Optional[TimeLike] = None,
        as_of: Optional[TimeLike] = None,
        resume_token: str = "",
        retries: int = 8,
        timeout: Optional[float] = None,
    ) -> Iterator[pd.DataFrame]:
        """stream_features yields a shop's rows as DataFrames, one per batch
        of ``batch_size`` rows (1..10,000), in (customer_id, product_id)
        order.

        Each frame's ``attrs["resume_token"]`` continues right after its
        last row: pass it back as ``resume_token`` (with the same filters)
        to continue later, from any server of the same database. When the
        connection drops or the server restarts, is busy (STREAMS_EXHAUSTED)
        or cancelled a stream that was not read (STREAM_STALLED), the
        stream continues by itself from the last token it yielded, after a
        backoff, up to ``retries`` times in a row; no row is yielded twice
        and none is skipped.

        Filters: ``customer_ids`` keeps these customers' rows,
        ``updated_since`` rows computed at or after that instant. With
        ``as_of`` the rows are computed at that instant from the events
        (point-in-time training data) rather than read from the table.
        """
        if retries < 0:
            raise ValueError(f"retries: is {retries}; give 0 or more")
        req = pb.StreamFeaturesRequest(
            shop_id=shop,
            batch_size=batch_size,
            resume_token=resume_token,
            customer_ids=list(customer_ids or ()),
        )
        if updated_since is not None:
            req.updated_since.CopyFrom(_timestamp(updated_since, "updated_since"))
        if as_of is not None:
            req.as_of.CopyFrom(_timestamp(as_of, "as_of"))
            req.compute = True
        # The arguments are checked here, at the call; the rows come when
        # the generator is iterated.
        return self._stream(req, retries, timeout)

    def _stream(self, req: pb.StreamFeaturesRequest, retries: int, timeout: Optional[float]) -> Iterator[pd.DataFrame]:
        shop = req.shop_id
        catalogue = self.catalogue()
        failures, backoff, rows = 0, 0.25, 0
        while True:
            call = self._stub.StreamFeatures(req, timeout=timeout, metadata=self._metadata)
            try:
                for batch in call:
                    frame = records_frame(batch.records, catalogue)
                    frame.attrs["resume_token"] = batch.resume_token
                    req.resume_token = batch.resume_token
                    rows += len(frame)
                    failures, backoff = 0, 0.25
                    yield frame
                return
            except grpc.RpcError as rpc_err:
                err = from_rpc_error(rpc_err)
                if not _resumable(err) or failures >= retries:
                    raise err from None
                failures += 1
                log.warning(
                    "stream of shop %s: %s; continuing after row %d in %.2fs (retry %d of %d)",
                    shop, err, rows, backoff, failures, retries,
                )
                time.sleep(backoff)
                backoff = min(2 * backoff, 5.0)
            finally:
                # A consumer that stops iterating ends the call at once
                # rather than when the call is collected.
                call.cancel()

    def to_pandas(
        self,
        shop: str,
        *,
        batch_size: int = 10000,
        customer_ids: Optional[Iterable[str]] = None,
        updated_since: Optional[TimeLike] = None,
        as_of: Optional[TimeLike] = None,
        retries: int = 8,
    ) -> pd.DataFrame:
        """to_pandas returns a shop's rows as one DataFrame: the frames of
        stream_features (same filters, same resumption) put together, with
        a fresh RangeIndex."""
        frames = list(
            self.stream_features(
                shop,
                batch_size=batch_size,
                customer_ids=customer_ids,
                updated_since=updated_since,
                as_of=as_of,
                retries=retries,
            )
        )
        if not frames:
            return empty_frame(self.catalogue())
        out = pd.concat(frames, ignore_index=True)
        out.attrs = {}
        return out

    # -------------------------------------------------------------- compute --

    def compute(
        self,
        shop: str,
        *,
        as_of: Optional[TimeLike] = None,
        customer_ids: Optional[Iterable[str]] = None,
        mode: str = "full",
        allow_past_as_of: bool = False,
        progress: Union[None, bool, Callable[[Progress], None]] = None,
        timeout: Optional[float] = None,
    ) -> ComputeSummary:
        """compute runs ComputeFeatures for a shop and returns its totals
        once the run is done.

        ``progress`` is called with each Progress report while the run goes
        on (True prints them on stderr). ``mode`` is "full" (recompute every
        pair, remove those gone) or "incremental" (only the pairs whose
        inputs changed since the last run). A run for a shop already being
        computed raises FeatureStoreError with reason SHOP_LOCKED.
        """
        if mode not in _MODES:
            raise ValueError(f'mode: is {mode!r}; use "full" or "incremental"')
        req = pb.ComputeFeaturesRequest(
            shop_id=shop,
            customer_ids=list(customer_ids or ()),
            mode=_MODES[mode],
            allow_past_as_of=allow_past_as_of,
        )
        if as_of is not None:
            req.as_of.CopyFrom(_timestamp(as_of, "as_of"))
        report = _print_progress if progress is True else (progress or None)
        try:
            for msg in self._stub.ComputeFeatures(req, timeout=timeout, metadata=self._metadata):
                kind = msg.WhichOneof("event")
                if kind == "progress" and report is not None:
                    p = msg.progress
                    report(
                        Progress(
                            events_read=p.events_read,
                            order_lines_read=p.order_lines_read,
                            pairs_computed=p.pairs_computed,
                            pairs_written=p.pairs_written,
                            elapsed=p.elapsed.ToTimedelta(),
                        )
                    )
                elif kind == "summary":
                    return _summary(msg.summary)
        except grpc.RpcError as rpc_err:
            raise from_rpc_error(rpc_err) from None
        raise FeatureStoreError(grpc.StatusCode.UNKNOWN, f"compute of shop {shop}: the stream ended without a summary")

    # ------------------------------------------------------------- internal --

    def _unary(self, method, req, timeout: Optional[float] = None):
        try:
            return method(req, timeout=timeout if timeout is not None else self._timeout, metadata=self._metadata)
        except grpc.RpcError as rpc_err:
            raise from_rpc_error(rpc_err) from None


class _Call(NamedTuple):
    """_Call is one GetFeatures call of a read: its request, the place of
    its first pair among all those asked, and its pairs' customers (None
    for one customer's products) and products."""

    req: pb.GetFeaturesRequest
    offset: int
    customers: Optional[List[str]]
    products: List[str]


_FORMATS = {"pandas": pb.FORMAT_RECORDS, "matrix": pb.FORMAT_MATRIX}


def _wire_format(format: str) -> int:
    if format not in _FORMATS:
        raise ValueError(f'format: is {format!r}; use "pandas" or "matrix"')
    return _FORMATS[format]


_PAIR_COLUMNS = ("customer_id", "product_id")


def _pairs(pairs: Pairs) -> Tuple[List[str], List[str], Optional[pd.Index]]:
    """_pairs checks the pairs get_features_for_pairs is given and returns
    their customers and products, and the index of a frame given."""
    if isinstance(pairs, pd.DataFrame):
        return _frame_pairs(pairs)
    bad = ValueError(f"pairs: is {pairs!r}; give (customer_id, product_id) pairs, or a DataFrame with those columns")
    if pairs is None or isinstance(pairs, (str, bytes)):
        raise bad
    try:
        items = iter(pairs)
    except TypeError:
        raise bad from None
    customers: List[str] = []
    products: List[str] = []
    for i, pair in enumerate(items):
        if isinstance(pair, (str, bytes)):
            raise ValueError(
                f"pairs[{i}]: is {pair!r}, not a (customer_id, product_id) pair; "
                "for one customer's products use get_features(shop, customer, products)"
            )
        try:
            customer, product = pair
        except (TypeError, ValueError):
            raise ValueError(f"pairs[{i}]: is {pair!r}, not a (customer_id, product_id) pair") from None
        for name, value in (("customer_id", customer), ("product_id", product)):
            if not isinstance(value, str) or not value:
                raise ValueError(f"pairs[{i}]: its {name} is {value!r}; ids are non-empty strings")
        customers.append(customer)
        products.append(product)
    if not customers:
        raise ValueError("pairs: is empty; give at least one (customer_id, product_id) pair")
    return customers, products, None


def _frame_pairs(frame: pd.DataFrame) -> Tuple[List[str], List[str], pd.Index]:
    missing = [c for c in _PAIR_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(
            f"pairs: the frame has no column {' or '.join(missing)}; it needs customer_id and product_id "
            f"(it has {', '.join(map(str, frame.columns)) or 'none'})"
        )
    columns = []
    for name in _PAIR_COLUMNS:
        column = frame[name]
        if isinstance(column, pd.DataFrame):
            raise ValueError(f"pairs: the frame has {column.shape[1]} columns named {name}; give it one")
        values = column.tolist()
        for i, value in enumerate(values):
            if not isinstance(value, str) or not value:
                raise ValueError(
                    f"pairs: the {name} of row {i} (index {frame.index[i]!r}) is {value!r}; ids are non-empty strings"
                )
        columns.append(values)
    if len(frame) == 0:
        raise ValueError("pairs: the frame has no rows; give at least one (customer_id, product_id) pair")
    return columns[0], columns[1], frame.index


_KEY_INDEX = re.compile(r"\bkeys\[(\d+)\]")


def _shift_keys(err: FeatureStoreError, offset: int) -> FeatureStoreError:
    """_shift_keys returns err with the indexes of the keys it names moved
    by offset: from the place of a pair in one call to its place among all
    the pairs asked."""

    def shift(text: str) -> str:
        return _KEY_INDEX.sub(lambda m: f"keys[{int(m.group(1)) + offset}]", text)

    return FeatureStoreError(
        err.code,
        shift(err.message),
        err.reason,
        err.metadata,
        [(shift(field), shift(description)) for field, description in err.field_violations],
    )


def _resumable(err: FeatureStoreError) -> bool:
    """_resumable reports whether a stream that failed with err continues
    with its last token: the connection or server is gone, the server is
    busy, or it cancelled the stream while it was not read."""
    if err.code == grpc.StatusCode.UNAVAILABLE:
        return True
    if err.code in (grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.ABORTED):
        return err.reason in ("STREAMS_EXHAUSTED", "STREAM_STALLED")
    return False


def _pem(value: Union[bytes, str, None]) -> Optional[bytes]:
    """_pem reads PEM bytes given as bytes or as a file path."""
    if value is None or isinstance(value, bytes):
        return value
    with open(value, "rb") as f:
        return f.read()


def _timestamp(value: TimeLike, field: str) -> timestamp_pb2.Timestamp:
    """_timestamp converts an instant; a naive datetime or string without
    an offset is refused rather than read in some local zone."""
    try:
        t = pd.Timestamp(value)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{field}: {value!r} is not an instant: {e}") from None
    if t is pd.NaT:
        raise ValueError(f"{field}: is NaT")
    if t.tzinfo is None:
        raise ValueError(f"{field}: {value!r} has no time zone; give one (e.g. UTC)")
    ns = t.value
    return timestamp_pb2.Timestamp(seconds=ns // 1_000_000_000, nanos=ns % 1_000_000_000)


def _datetime(ts: timestamp_pb2.Timestamp) -> _dt.datetime:
    return _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc) + _dt.timedelta(
        seconds=ts.seconds, microseconds=ts.nanos // 1000
    )


def _summary(s: pb.ComputeSummary) -> ComputeSummary:
    return ComputeSummary(
        shop_id=s.shop_id,
        mode={v: k for k, v in _MODES.items()}.get(s.mode, "full"),
        as_of=_datetime(s.as_of),
        features_version=s.features_version,
        events_read=s.events_read,
        order_lines_read=s.order_lines_read,
        pairs_written=s.pairs_written,
        pairs_deleted=s.pairs_deleted,
        started_at=_datetime(s.started_at),
        duration=s.duration.ToTimedelta(),
    )


def _print_progress(p: Progress) -> None:
    print(
        f"compute: {p.events_read} events, {p.order_lines_read} order lines read, "
        f"{p.pairs_computed} pairs computed, {p.pairs_written} written ({p.elapsed.total_seconds():.1f}s)",
        file=sys.stderr,
    )
