"""Reading matrix answers, without a server."""

import grpc
import numpy as np
import pytest

from featurestore_client import FeatureStoreError, LayoutMismatch, MatrixUnsupported
from featurestore_client._proto.featurestore.v1 import featurestore_pb2 as pb
from featurestore_client.frames import Catalogue
from featurestore_client.matrix import matrix_from_response

FOUND, NOT_FOUND = pb.FEATURE_STATUS_FOUND, pb.FEATURE_STATUS_NOT_FOUND

# Three features whose dense order (b, c, a) differs from catalogue order.
CATALOGUE = Catalogue.from_proto(
    pb.DescribeFeaturesResponse(
        features_version=3,
        features=[
            pb.FeatureDescriptor(name="a", type=pb.FEATURE_TYPE_INT, dense_index=2),
            pb.FeatureDescriptor(name="b", type=pb.FEATURE_TYPE_FLOAT, nullable=True, dense_index=0),
            pb.FeatureDescriptor(name="c", type=pb.FEATURE_TYPE_TIMESTAMP, dense_index=1),
        ],
    )
)


def _response(values, statuses, micros, version=3, rows=None, columns=3, raw=None):
    values = np.asarray(values, dtype="<f4")
    return pb.GetFeaturesResponse(
        matrix=pb.FeatureMatrix(
            rows=len(statuses) if rows is None else rows,
            columns=columns,
            values=values.tobytes() if raw is None else raw,
            statuses=statuses,
            computed_at_unix_micros=micros,
            features_version=version,
        )
    )


def test_matrix_values_rows_and_times():
    nan = np.nan
    values = [[1.5, 1.7e9, 3], [nan, nan, nan], [nan, 1.7e9, 0]]
    resp = _response(values, [FOUND, NOT_FOUND, FOUND], [1_700_000_000_123_456, 0, 1_700_000_001_000_000])
    m = matrix_from_response(resp, ["p1", "p2", "p1"], CATALOGUE)
    assert m.shape == (3, 3)
    assert m.columns == ("b", "c", "a")
    assert m.product_ids == ("p1", "p2", "p1")
    assert m.values.dtype == np.float32 and m.values.flags.writeable
    np.testing.assert_array_equal(m.values, np.asarray(values, dtype=np.float32))
    assert list(m.found) == [True, False, True]
    assert m.computed_at[0] == np.datetime64("2023-11-14T22:13:20.123456", "ns")
    assert np.isnat(m.computed_at[1])
    assert m.features_version == 3
    assert np.asarray(m).shape == (3, 3)
    df = m.to_pandas()
    assert list(df.columns) == ["b", "c", "a"] and list(df.index) == ["p1", "p2", "p1"]


def test_a_server_that_ignores_the_format():
    resp = pb.GetFeaturesResponse(results=[pb.FeatureResult(status=FOUND)])
    with pytest.raises(MatrixUnsupported) as e:
        matrix_from_response(resp, ["p"], CATALOGUE)
    assert e.value.code == grpc.StatusCode.UNIMPLEMENTED


@pytest.mark.parametrize(
    "kw, err",
    [
        ({"version": 4}, LayoutMismatch),
        ({"columns": 2, "raw": b"\0" * 8}, LayoutMismatch),
        ({"rows": 2}, FeatureStoreError),
        ({"raw": b"\0" * 11}, FeatureStoreError),
    ],
    ids=["layout version", "column count", "rows", "bytes"],
)
def test_inconsistent_answers_are_refused(kw, err):
    resp = _response([[1, 2, 3]], [FOUND], [1], **kw)
    with pytest.raises(err):
        matrix_from_response(resp, ["p"], CATALOGUE)
