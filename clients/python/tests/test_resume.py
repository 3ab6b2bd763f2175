"""stream_features over a connection that drops midway."""

from __future__ import annotations

import logging

import grpc
import pandas as pd
import pytest

from featurestore_client import FeatureStoreError
from proxy import CuttingProxy

# A 100-row batch is about 40 kB on the wire: the cut falls a few batches
# into a stream of many.
BATCH = 100
CUT_AFTER = 120_000


def _upstream(server):
    host, port = server.addr.rsplit(":", 1)
    return host, int(port)


def test_stream_resumes_after_a_dropped_connection(server, reference, caplog):
    # The first connection is reset midway, and the next two are refused,
    # as by a server that is not back yet: the stream resumes by itself.
    with CuttingProxy(_upstream(server), cut_after=CUT_AFTER, refuse=2) as proxy:
        with server.client(proxy.addr) as c, caplog.at_level(logging.WARNING, logger="featurestore_client"):
            frames = list(c.stream_features(server.shop, batch_size=BATCH))
        assert proxy.cuts == 1
        assert proxy.refused == 2
    retries = [r for r in caplog.records if "continuing after row" in r.getMessage()]
    assert len(retries) >= 3, [r.getMessage() for r in caplog.records]
    # The cut fell midway: batches came before it and after it.
    first = retries[0].getMessage()
    resumed_after = int(first.split("continuing after row ")[1].split()[0])
    assert 0 < resumed_after < len(reference), first
    # No row twice, none missing, every value as read in one go.
    got = pd.concat(frames, ignore_index=True)
    pd.testing.assert_frame_equal(got, reference)


def test_stream_gives_up_after_its_retries(server, reference, caplog):
    # Every connection after the first is refused: with two retries the
    # stream fails with UNAVAILABLE after the rows it could yield.
    with CuttingProxy(_upstream(server), cut_after=CUT_AFTER, refuse=1_000) as proxy:
        with server.client(proxy.addr) as c, caplog.at_level(logging.WARNING, logger="featurestore_client"):
            rows = 0
            with pytest.raises(FeatureStoreError) as e:
                for df in c.stream_features(server.shop, batch_size=BATCH, retries=2):
                    rows += len(df)
        assert proxy.cuts == 1
    assert e.value.code == grpc.StatusCode.UNAVAILABLE
    assert 0 < rows < len(reference)
    assert len([r for r in caplog.records if "continuing after row" in r.getMessage()]) == 2
