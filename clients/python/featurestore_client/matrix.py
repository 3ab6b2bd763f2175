"""Matrix answers of GetFeatures: a float32 array a model consumes as is."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Optional, Sequence, Tuple

import grpc
import numpy as np
import pandas as pd

from ._proto.featurestore.v1 import featurestore_pb2 as pb
from .errors import FeatureStoreError
from .frames import Catalogue


@dataclass(frozen=True)
class FeatureMatrix:
    """FeatureMatrix is a GetFeatures answer in matrix form.

    Attributes:
        values: float32 array of shape (rows, columns), rows in the order
            of the products (or pairs) asked, columns in the dense layout
            of the catalogue; NaN where a feature is NULL and on rows not
            found. Timestamps are Unix seconds, categorical features the
            index of their value in the feature's categories.
        columns: the feature names of the columns.
        product_ids: the products of the rows, as asked.
        found: bool per row: whether the pair has stored features.
        computed_at: datetime64[ns] per row: when its features were
            written; NaT on rows not found.
        features_version: the version of the dense layout.
        customer_ids: the customers of the rows, as asked, in a matrix of
            pairs (get_features_for_pairs); None in a matrix of one
            customer's products (get_features).
    """

    values: np.ndarray
    columns: Tuple[str, ...]
    product_ids: Tuple[str, ...]
    found: np.ndarray
    computed_at: np.ndarray
    features_version: int
    customer_ids: Optional[Tuple[str, ...]] = None

    @property
    def shape(self) -> Tuple[int, int]:
        return self.values.shape

    def __len__(self) -> int:
        return self.values.shape[0]

    def __array__(self, dtype=None, copy=None):
        return self.values if dtype is None else self.values.astype(dtype)

    def to_pandas(self) -> pd.DataFrame:
        """to_pandas returns the values as a frame indexed by product, or
        by (customer_id, product_id) in a matrix of pairs."""
        if self.customer_ids is None:
            index = pd.Index(self.product_ids, name="product_id")
        else:
            index = pd.MultiIndex.from_arrays([self.customer_ids, self.product_ids], names=["customer_id", "product_id"])
        return pd.DataFrame(self.values, columns=list(self.columns), index=index)


class MatrixUnsupported(FeatureStoreError):
    """MatrixUnsupported: the server answered a matrix request with records,
    as a server older than the matrix format does (it ignores the field)."""

    def __init__(self, message: str) -> None:
        super().__init__(grpc.StatusCode.UNIMPLEMENTED, message)


def matrix_from_response(
    resp: pb.GetFeaturesResponse,
    products: Sequence[str],
    catalogue: Catalogue,
    customers: Optional[Sequence[str]] = None,
) -> FeatureMatrix:
    """matrix_from_response reads a GetFeatures answer in matrix format
    whose layout is the catalogue's: the values are one copy of the
    answer's bytes, not a decoding of fields. customers are those of the
    pairs asked (keys), one per product; None for one customer's
    products."""
    if not resp.HasField("matrix"):
        raise MatrixUnsupported(
            "the server answered a FORMAT_MATRIX request with records: it predates matrix answers; "
            'use format="pandas"'
        )
    m = resp.matrix
    columns = catalogue.dense_columns
    if m.features_version != catalogue.version or m.columns != len(columns):
        raise LayoutMismatch(
            f"the matrix has {m.columns} columns of layout version {m.features_version}, "
            f"the catalogue {len(columns)} of version {catalogue.version}"
        )
    rows = len(products)
    if m.rows != rows or len(m.statuses) != rows or len(m.computed_at_unix_micros) != rows:
        raise _malformed(f"{m.rows} rows, {len(m.statuses)} statuses and {len(m.computed_at_unix_micros)} times for {rows} products")
    if len(m.values) != 4 * rows * m.columns:
        raise _malformed(f"{len(m.values)} bytes of values for {rows} x {m.columns} float32")
    # One copy into a writable array of the machine's byte order.
    values = np.frombuffer(m.values, dtype="<f4").reshape(rows, m.columns).astype(np.float32)
    found = np.asarray(m.statuses, dtype=np.int32) == pb.FEATURE_STATUS_FOUND
    micros = np.asarray(m.computed_at_unix_micros, dtype=np.int64)
    computed_at = np.where(found, micros, np.iinfo(np.int64).min).view("datetime64[us]").astype("datetime64[ns]")
    return FeatureMatrix(
        values=values,
        columns=tuple(columns),
        product_ids=tuple(products),
        found=found,
        computed_at=computed_at,
        features_version=m.features_version,
        customer_ids=None if customers is None else tuple(customers),
    )


def concat_matrices(parts: Sequence[FeatureMatrix]) -> FeatureMatrix:
    """concat_matrices puts the matrices of consecutive calls together,
    rows after rows. They must have one layout (matrix_from_response read
    them with one catalogue)."""
    if len(parts) == 1:
        return parts[0]
    first = parts[0]
    for p in parts[1:]:
        if p.columns != first.columns or p.features_version != first.features_version:
            raise LayoutMismatch(
                f"the matrices to put together have layout versions {first.features_version} and {p.features_version}"
            )
    customers = None
    if first.customer_ids is not None:
        customers = tuple(c for p in parts for c in p.customer_ids)
    return replace(
        first,
        values=np.concatenate([p.values for p in parts]),
        product_ids=tuple(x for p in parts for x in p.product_ids),
        found=np.concatenate([p.found for p in parts]),
        computed_at=np.concatenate([p.computed_at for p in parts]),
        customer_ids=customers,
    )


class LayoutMismatch(FeatureStoreError):
    """LayoutMismatch: the matrix's dense layout is not the catalogue's the
    client holds (the server was upgraded meanwhile)."""

    def __init__(self, message: str) -> None:
        super().__init__(grpc.StatusCode.FAILED_PRECONDITION, message)


def _malformed(what: str) -> FeatureStoreError:
    return FeatureStoreError(grpc.StatusCode.INTERNAL, f"malformed matrix answer: {what}")
