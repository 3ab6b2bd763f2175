"""stream_features over a connection that drops midway."""

from __future__ import annotations

import logging

import grpc
import pandas as pd
import pytest

from featurestore_client import FeatureStoreError
from proxy import CuttingProxy

# BATCH rows are about 31 kB on the wire. Until the drop, the proxy relays
# HOLD_AFTER bytes: a few batches of a stream of many, so the stream can
# neither end nor run far ahead of what the test has read.
BATCH = 100
HOLD_AFTER = 120_000


def _upstream(server):
    host, port = server.addr.rsplit(":", 1)
    return host, int(port)


def _retries(caplog):
    return [r.getMessage() for r in caplog.records if "continuing after row" in r.getMessage()]


def test_stream_resumes_after_a_dropped_connection(server, reference, caplog):
    # The connection drops after the first batch was read, and the next two
    # connections are refused, as by a server that is not back yet: the
    # stream resumes by itself.
    frames = []
    with CuttingProxy(_upstream(server), hold_after=HOLD_AFTER, refuse=2) as proxy:
        with server.client(proxy.addr) as c, caplog.at_level(logging.WARNING, logger="featurestore_client"):
            for df in c.stream_features(server.shop, batch_size=BATCH):
                frames.append(df)
                if len(frames) == 1:
                    proxy.drop()
        assert proxy.drops == 1
        assert proxy.refused == 2
    retries = _retries(caplog)
    assert len(retries) >= 3, retries
    # The drop fell midway: batches came before it and after it.
    resumed_after = int(retries[0].split("continuing after row ")[1].split()[0])
    assert BATCH <= resumed_after < len(reference) - BATCH, retries[0]
    # No row twice, none missing, every value as read in one go.
    got = pd.concat(frames, ignore_index=True)
    pd.testing.assert_frame_equal(got, reference)


def test_stream_gives_up_after_its_retries(server, reference, caplog):
    # Every connection after the first is refused: with two retries the
    # stream fails with UNAVAILABLE after the rows it could yield.
    rows = 0
    with CuttingProxy(_upstream(server), hold_after=HOLD_AFTER, refuse=1_000) as proxy:
        with server.client(proxy.addr) as c, caplog.at_level(logging.WARNING, logger="featurestore_client"):
            with pytest.raises(FeatureStoreError) as e:
                for df in c.stream_features(server.shop, batch_size=BATCH, retries=2):
                    rows += len(df)
                    proxy.drop()
        assert proxy.drops == 1
    assert e.value.code == grpc.StatusCode.UNAVAILABLE
    assert BATCH <= rows < len(reference)
    assert len(_retries(caplog)) == 2
