"""The client against a real featurestore server (see conftest.py)."""

from __future__ import annotations

import datetime as dt
import itertools

import grpc
import numpy as np
import pandas as pd
import pytest

from featurestore_client import MAX_PAIRS_PER_CALL, FeatureStoreError, Progress

ID_COLUMNS = ["customer_id", "product_id"]
ROW_COLUMNS = ["as_of", "computed_at", "features_version"]


def _feature_names(client):
    return [f.name for f in client.catalogue().features]


def test_catalogue_and_describe(client):
    cat = client.catalogue()
    assert cat.version >= 1
    names = [f.name for f in cat.features]
    assert "total_views" in names and "preferred_device" in names
    assert sorted(f.dense_index for f in cat.features) == list(range(len(cat.features)))
    desc = client.describe()
    assert list(desc["name"]) == names
    assert desc.set_index("name").loc["preferred_device", "type"] == "string"


def test_stream_frames_have_the_catalogue_columns_and_dtypes(client, server):
    frames = list(client.stream_features(server.shop, batch_size=100))
    assert len(frames) > 3
    names = _feature_names(client)
    cat = {f.name: f for f in client.catalogue().features}
    for df in frames:
        assert list(df.columns) == ID_COLUMNS + names + ROW_COLUMNS
        assert 0 < len(df) <= 100
        assert df.attrs["resume_token"]
    df = pd.concat(frames, ignore_index=True)
    for name in names:
        f, dtype = cat[name], str(df[name].dtype)
        want = {
            ("int", False): "int64",
            ("int", True): "Int64",
            ("float", False): "float64",
            ("float", True): "float64",
            ("timestamp", False): "datetime64[ns, UTC]",
            ("timestamp", True): "datetime64[ns, UTC]",
            ("string", True): "object",
            ("string", False): "object",
        }[(f.type, f.nullable)]
        assert dtype == want, f"{name}: {dtype}, want {want}"
    assert str(df["computed_at"].dtype) == "datetime64[ns, UTC]"
    # Rows come in (customer_id, product_id) byte order, each once.
    keys = list(zip(df.customer_id, df.product_id))
    assert keys == sorted(keys, key=lambda k: (k[0].encode(), k[1].encode()))
    assert len(set(keys)) == len(keys)
    # NULL where the catalogue allows it, and never elsewhere.
    for f in cat.values():
        if not f.nullable:
            assert not df[f.name].isna().any(), f.name
    assert df["view_duration_avg"].isna().any() or df["view_recency"].isna().any()


def test_to_pandas_is_the_stream_whole(client, server, reference):
    frames = list(client.stream_features(server.shop, batch_size=250))
    pd.testing.assert_frame_equal(pd.concat(frames, ignore_index=True), reference)
    assert reference.attrs == {}


def test_resume_token_continues_after_its_batch(client, server, reference):
    stream = client.stream_features(server.shop, batch_size=70)
    head = [next(stream) for _ in range(3)]
    stream.close()
    token = head[-1].attrs["resume_token"]
    tail = list(client.stream_features(server.shop, batch_size=500, resume_token=token))
    got = pd.concat(head + tail, ignore_index=True)
    pd.testing.assert_frame_equal(got, reference)


def test_stream_filters(client, server, reference):
    customers = sorted(set(reference.customer_id))[:3]
    df = client.to_pandas(server.shop, customer_ids=customers)
    want = reference[reference.customer_id.isin(customers)].reset_index(drop=True)
    pd.testing.assert_frame_equal(df, want)
    # Nothing was computed after now.
    future = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)
    empty = client.to_pandas(server.shop, updated_since=future)
    assert len(empty) == 0
    assert list(empty.columns) == list(reference.columns)


def test_point_in_time_stream(client, server, reference):
    as_of = reference["as_of"].max()
    df = client.to_pandas(server.shop, as_of=as_of)
    assert len(df) > 0
    assert (df["as_of"] == as_of).all()
    # Computed at the stored rows' instant, the features are the stored
    # ones (the stored rows were computed with no later events).
    names = _feature_names(client)
    merged = reference.merge(df, on=ID_COLUMNS, suffixes=("", "_pit"))
    assert len(merged) == len(reference)
    for name in names:
        pd.testing.assert_series_equal(merged[name], merged[name + "_pit"], check_names=False)


def test_naive_instants_are_refused(client, server):
    with pytest.raises(ValueError, match="updated_since: .* has no time zone"):
        client.stream_features(server.shop, updated_since=dt.datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="as_of: .* has no time zone"):
        client.to_pandas(server.shop, as_of="2026-01-01T00:00:00")
    with pytest.raises(ValueError, match="retries"):
        client.stream_features(server.shop, retries=-1)


def test_get_features_frame(client, server, reference):
    customer = reference.customer_id.iloc[len(reference) // 2]
    rows = reference[reference.customer_id == customer]
    assert len(rows) >= 2
    p1, p2 = rows.product_id.iloc[0], rows.product_id.iloc[1]
    asked = [p2, "no-such-product", p1, p2]
    df = client.get_features(server.shop, customer, asked)
    assert list(df.product_id) == asked
    assert (df.customer_id == customer).all()
    assert list(df.found) == [True, False, True, True]
    names = _feature_names(client)
    assert list(df.columns) == ID_COLUMNS + ["found"] + names + ROW_COLUMNS
    # The row not found has no values.
    assert df.loc[1, names + ROW_COLUMNS].isna().all()
    # The rows found are the stored rows.
    want = rows.set_index("product_id").loc[[p2, p1, p2], names + ["as_of", "features_version"]]
    got = df.loc[[0, 2, 3], names + ["as_of", "features_version"]]
    pd.testing.assert_frame_equal(
        got.reset_index(drop=True).astype(object), want.reset_index(drop=True).astype(object)
    )
    assert str(df["total_views"].dtype) == "Int64"


def test_get_features_matrix(client, server, reference):
    customer = reference.customer_id.iloc[0]
    stored = list(reference[reference.customer_id == customer].product_id[:5])
    asked = stored + ["no-such-product"] + stored[:1]
    try:
        m = client.get_features(server.shop, customer, asked, format="matrix")
    except FeatureStoreError as e:
        if e.code == grpc.StatusCode.UNIMPLEMENTED:
            pytest.skip(f"the server does not answer matrices: {e}")
        raise
    cat = client.catalogue()
    assert m.shape == (len(asked), len(cat.features))
    assert m.values.dtype == np.float32
    assert list(m.columns) == cat.dense_columns
    assert list(m.found) == [True] * len(stored) + [False, True]
    assert np.isnan(m.values[len(stored)]).all()
    assert np.array_equal(m.values[0], m.values[-1], equal_nan=True)
    # The matrix holds the dense form of the stored features.
    frame = client.get_features(server.shop, customer, asked)
    for col, name in enumerate(m.columns):
        f = next(f for f in cat.features if f.name == name)
        want = _dense(frame[name], f).astype(np.float32)
        np.testing.assert_array_equal(m.values[:, col], want, err_msg=name)
    assert np.isnat(m.computed_at[len(stored)])
    assert (m.computed_at[: len(stored)] == frame.computed_at[: len(stored)].dt.tz_localize(None).to_numpy()).all()
    assert np.asarray(m).shape == m.shape


def _stored_values(reference, pairs, names):
    """_stored_values are the reference's features and row columns of the
    pairs, in their order, as objects (Int64 and int64 compare equal)."""
    want = reference.set_index(ID_COLUMNS).loc[list(pairs), names + ["as_of", "features_version"]]
    return want.reset_index(drop=True).astype(object)


def test_get_features_for_pairs_frame(client, server, reference):
    customers = list(dict.fromkeys(reference.customer_id))
    c1, c2, c3 = customers[0], customers[len(customers) // 2], customers[-1]

    def stored(c, k):
        return reference[reference.customer_id == c].product_id.iloc[k]

    asked = [
        (c2, stored(c2, 0)),
        (c1, stored(c1, 1)),
        (c1, "no-such-product"),
        ("no-such-customer", stored(c1, 0)),
        (c3, stored(c3, 0)),
        (c2, stored(c2, 0)),
        (c1, stored(c1, 0)),
    ]
    df = client.get_features_for_pairs(server.shop, asked)
    names = _feature_names(client)
    assert list(df.columns) == ID_COLUMNS + ["found"] + names + ROW_COLUMNS
    assert list(zip(df.customer_id, df.product_id)) == asked
    assert list(df.index) == list(range(len(asked)))
    assert list(df.found) == [True, True, False, False, True, True, True]
    assert df.loc[[2, 3], names + ROW_COLUMNS].isna().all().all()
    rows = [0, 1, 4, 5, 6]
    got = df.loc[rows, names + ["as_of", "features_version"]].reset_index(drop=True).astype(object)
    pd.testing.assert_frame_equal(got, _stored_values(reference, [asked[i] for i in rows], names))
    assert str(df["total_views"].dtype) == "Int64"


def test_get_features_for_pairs_takes_a_frame(client, server, reference):
    # Every seventh row, last first, with a label: the frame's index has
    # gaps and runs backwards, and the answer carries it.
    labels = reference.loc[::7, ID_COLUMNS].iloc[::-1].copy()
    labels["label"] = np.arange(len(labels)) % 2
    df = client.get_features_for_pairs(server.shop, labels)
    assert df.index.equals(labels.index)
    assert (df.customer_id == labels.customer_id).all() and (df.product_id == labels.product_id).all()
    assert df.found.all()
    names = _feature_names(client)
    got = df[names + ["as_of", "features_version"]].reset_index(drop=True).astype(object)
    pd.testing.assert_frame_equal(got, _stored_values(reference, zip(labels.customer_id, labels.product_id), names))
    # Lined up by index, the features join the labels as they are.
    joined = labels.join(df[names])
    assert len(joined) == len(labels) and not joined[names[0]].isna().any()


def test_pairs_of_one_customer_answer_as_get_features(client, server, reference):
    customer = reference.customer_id.iloc[len(reference) // 3]
    products = list(reference[reference.customer_id == customer].product_id) + ["no-such-product"]
    pairs = list(zip(itertools.repeat(customer), products))
    # A MultiIndex of pairs does as well as a list.
    pd.testing.assert_frame_equal(
        client.get_features_for_pairs(server.shop, pd.MultiIndex.from_tuples(pairs)),
        client.get_features(server.shop, customer, products),
    )
    one = client.get_features(server.shop, customer, products, format="matrix")
    # A generator of pairs does as well as a list.
    m = client.get_features_for_pairs(server.shop, (p for p in pairs), format="matrix")
    np.testing.assert_array_equal(m.values, one.values)
    assert m.columns == one.columns and m.features_version == one.features_version
    assert list(m.found) == list(one.found) and np.array_equal(m.computed_at, one.computed_at, equal_nan=True)
    assert m.product_ids == tuple(products) and m.customer_ids == (customer,) * len(products)
    assert one.customer_ids is None


def test_more_pairs_than_one_call(client, server, reference):
    """More pairs than the server takes in one call (which it refuses)
    come back whole, in the order asked, as frame and as matrix."""
    stored = list(zip(reference.customer_id, reference.product_id))
    missing = [(c, "no-such-product") for c in sorted(set(reference.customer_id))[:5]]
    pool = stored + missing
    n = 2 * MAX_PAIRS_PER_CALL + 345
    asked = [pool[(7 * i) % len(pool)] for i in range(n)]
    want_found = [pair in set(stored) for pair in asked]
    assert not all(want_found[:MAX_PAIRS_PER_CALL]) and not all(want_found[2 * MAX_PAIRS_PER_CALL :])

    df = client.get_features_for_pairs(server.shop, asked)
    assert len(df) == n and list(zip(df.customer_id, df.product_id)) == asked
    assert list(df.found) == want_found
    names = _feature_names(client)
    rows = [i for i, f in enumerate(want_found) if f]
    got = df.loc[rows, names + ["as_of", "features_version"]].reset_index(drop=True).astype(object)
    pd.testing.assert_frame_equal(got, _stored_values(reference, [asked[i] for i in rows], names))

    m = client.get_features_for_pairs(server.shop, asked, format="matrix")
    cat = client.catalogue()
    assert m.shape == (n, len(cat.features))
    assert m.customer_ids == tuple(c for c, _ in asked) and m.product_ids == tuple(p for _, p in asked)
    assert list(m.found) == want_found
    for col, name in enumerate(m.columns):
        f = next(f for f in cat.features if f.name == name)
        np.testing.assert_array_equal(m.values[:, col], _dense(df[name], f).astype(np.float32), err_msg=name)
    assert m.to_pandas().index.names == ID_COLUMNS


def test_a_bad_pair_is_named_by_its_place_among_all(client, server, reference):
    stored = list(zip(reference.customer_id, reference.product_id))
    asked = [stored[i % len(stored)] for i in range(MAX_PAIRS_PER_CALL + 500)]
    bad = MAX_PAIRS_PER_CALL + 234  # in the second call, 234th there
    asked[bad] = (asked[bad][0], "p" * 300)
    with pytest.raises(FeatureStoreError) as e:
        client.get_features_for_pairs(server.shop, asked)
    assert e.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert e.value.reason == "BAD_REQUEST"
    assert [f for f, _ in e.value.field_violations] == [f"keys[{bad}].product_id"], e.value.field_violations
    assert f"keys[{bad}]" in e.value.message and "keys[234]" not in e.value.message, e.value.message


def _dense(col: pd.Series, f) -> np.ndarray:
    """_dense is the dense form DescribeFeatures documents: NULL as NaN,
    timestamps as Unix seconds, categories as their index. Timestamps keep
    their fraction of a second, as the server's do (microseconds / 1e6):
    whole seconds would round to another float32 now and then."""
    if f.type == "timestamp":
        return np.array([np.nan if pd.isna(t) else (t.value // 1000) / 1e6 for t in col], dtype=np.float64)
    if f.type == "string":
        return np.array([np.nan if v is None else f.categories.index(v) for v in col], dtype=np.float64)
    return col.astype("float64").to_numpy()


def test_compute_reports_progress_and_totals(client, server, reference):
    seen = []
    summary = client.compute(server.shop, customer_ids=sorted(set(reference.customer_id))[:5], progress=seen.append)
    assert summary.shop_id == server.shop
    assert summary.mode == "full"
    assert summary.pairs_written == (reference.customer_id.isin(sorted(set(reference.customer_id))[:5])).sum()
    assert summary.duration.total_seconds() > 0
    assert all(isinstance(p, Progress) and p.pairs_written <= summary.pairs_written for p in seen)


def test_errors_carry_reasons(client, server):
    with pytest.raises(FeatureStoreError) as e:
        client.get_features("another-shop", "c", ["p"])
    assert e.value.code == grpc.StatusCode.PERMISSION_DENIED
    assert e.value.reason == "API_KEY_SHOP_DENIED"
    assert e.value.metadata.get("shop") == "another-shop"

    with pytest.raises(FeatureStoreError) as e:
        client.get_features(server.shop, "c", [])
    assert e.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert e.value.reason == "BAD_REQUEST"
    assert any(f.startswith("product_ids") for f, _ in e.value.field_violations), e.value.field_violations

    with pytest.raises(FeatureStoreError) as e:
        next(client.stream_features(server.shop, resume_token="not-a-token"))
    assert e.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert e.value.reason == "RESUME_TOKEN_INVALID"

    with server.client(api_key="fsk_nope_nope") as bad:
        with pytest.raises(FeatureStoreError) as e:
            bad.catalogue()
    assert e.value.code == grpc.StatusCode.UNAUTHENTICATED
    assert e.value.reason == "API_KEY_INVALID"


def test_bad_arguments_are_refused_before_a_call(client, server):
    with pytest.raises(ValueError, match="format"):
        client.get_features(server.shop, "c", ["p"], format="arrow")
    with pytest.raises(ValueError, match="mode"):
        client.compute(server.shop, mode="partial")
