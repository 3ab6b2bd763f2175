"""Conversion of feature records into pandas DataFrames.

The columns and their types follow the server's catalogue
(DescribeFeatures), so that every frame of a shop, batch after batch, has
the same columns with the same dtypes, and ``pd.concat`` keeps them:

- ``customer_id``, ``product_id``: str;
- every feature in catalogue order: INT features ``int64`` (pandas'
  nullable ``Int64`` where the feature is nullable), FLOAT ``float64`` with
  NaN for NULL, TIMESTAMP ``datetime64[ns, UTC]`` with NaT, STRING
  ``object`` with None;
- ``as_of``, ``computed_at``: ``datetime64[ns, UTC]``; ``features_version``:
  ``int64``.

A frame of GetFeatures answers also has the bool column ``found`` after
``product_id``; its rows that were not found have no values, so every
feature column is nullable there (INT features are ``Int64``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from ._proto.featurestore.v1 import featurestore_pb2 as pb

# FEATURE_TYPES names the catalogue's FeatureType values.
FEATURE_TYPES = {
    pb.FEATURE_TYPE_INT: "int",
    pb.FEATURE_TYPE_FLOAT: "float",
    pb.FEATURE_TYPE_TIMESTAMP: "timestamp",
    pb.FEATURE_TYPE_STRING: "string",
}

_NAT = np.iinfo(np.int64).min  # NaT as int64 nanoseconds


@dataclass(frozen=True)
class Feature:
    """Feature is one entry of the server's catalogue."""

    name: str
    type: str  # "int", "float", "timestamp" or "string"
    nullable: bool
    dense_index: int
    min: Optional[float]
    max: Optional[float]
    categories: Tuple[str, ...]
    description: str


@dataclass(frozen=True)
class Catalogue:
    """Catalogue is what DescribeFeatures answers: the features in the
    order of FeatureRecord's fields and of every frame, and the dense
    layout of vectors and matrices."""

    version: int
    features: Tuple[Feature, ...]

    @classmethod
    def from_proto(cls, resp: pb.DescribeFeaturesResponse) -> "Catalogue":
        features = []
        for d in resp.features:
            features.append(
                Feature(
                    name=d.name,
                    type=FEATURE_TYPES.get(d.type, "unspecified"),
                    nullable=d.nullable,
                    dense_index=d.dense_index,
                    min=d.min if d.HasField("min") else None,
                    max=d.max if d.HasField("max") else None,
                    categories=tuple(d.categories),
                    description=d.description,
                )
            )
        return cls(version=resp.features_version, features=tuple(features))

    @property
    def dense_columns(self) -> List[str]:
        """dense_columns are the feature names in dense layout order: the
        columns of a FeatureMatrix."""
        return [f.name for f in sorted(self.features, key=lambda f: f.dense_index)]

    def to_pandas(self) -> pd.DataFrame:
        """to_pandas returns the catalogue as a frame, one feature a row."""
        return pd.DataFrame(
            {
                "name": [f.name for f in self.features],
                "type": [f.type for f in self.features],
                "nullable": [f.nullable for f in self.features],
                "dense_index": [f.dense_index for f in self.features],
                "min": [np.nan if f.min is None else f.min for f in self.features],
                "max": [np.nan if f.max is None else f.max for f in self.features],
                "categories": [list(f.categories) for f in self.features],
                "description": [f.description for f in self.features],
            }
        )


_FEATURE_FIELDS = pb.Features.DESCRIPTOR.fields_by_name


def records_frame(
    records: Sequence[pb.FeatureRecord],
    catalogue: Catalogue,
    found: Optional[Sequence[bool]] = None,
) -> pd.DataFrame:
    """records_frame returns one row per record.

    With found (GetFeatures answers), the frame has a ``found`` column and
    the records of rows not found are ignored: their features are missing.
    """
    n = len(records)
    mask = np.ones(n, dtype=bool) if found is None else np.asarray(found, dtype=bool)
    nullable_rows = found is not None
    cols = {
        "customer_id": np.array([r.customer_id for r in records], dtype=object),
        "product_id": np.array([r.product_id for r in records], dtype=object),
    }
    if found is not None:
        cols["found"] = mask
    feats = [r.features for r in records]
    for f in catalogue.features:
        field = _FEATURE_FIELDS.get(f.name)
        if field is None:
            # A feature newer than this client's stubs: the record cannot
            # carry it to us, so it is left out rather than shown as NULL.
            continue
        present = mask
        if field.has_presence and (f.nullable or field.message_type is not None):
            # An absent non-nullable number is 0: older servers (and
            # records cached by them) leave out fields equal to 0.
            present = mask & _has(feats, f.name, n)
        cols[f.name] = _column(f, field, feats, present, f.nullable or nullable_rows)
    cols["as_of"] = _timestamps([r.as_of for r in records], mask & _has(records, "as_of", n))
    cols["computed_at"] = _timestamps([r.computed_at for r in records], mask & _has(records, "computed_at", n))
    versions = np.fromiter((r.features_version for r in records), dtype=np.int64, count=n)
    cols["features_version"] = pd.arrays.IntegerArray(versions, ~mask) if nullable_rows else versions
    # The arrays are new: the frame takes them without copying.
    return pd.DataFrame(cols, copy=False)


def _has(messages, name: str, n: int) -> np.ndarray:
    return np.fromiter((m.HasField(name) for m in messages), dtype=bool, count=n)


def _column(f: Feature, field, feats, present: np.ndarray, nullable: bool):
    name = f.name
    if field.message_type is not None:  # google.protobuf.Timestamp
        return _timestamps([getattr(x, name) for x in feats], present)
    n = len(feats)
    if field.cpp_type in (field.CPPTYPE_INT32, field.CPPTYPE_INT64):
        arr = np.fromiter((getattr(x, name) for x in feats), dtype=np.int64, count=n)
        if not nullable and present.all():
            return arr
        return pd.arrays.IntegerArray(arr, ~present)
    if field.cpp_type in (field.CPPTYPE_DOUBLE, field.CPPTYPE_FLOAT):
        arr = np.fromiter((getattr(x, name) for x in feats), dtype=np.float64, count=n)
        arr[~present] = np.nan
        return arr
    return np.array([getattr(x, name) if p else None for x, p in zip(feats, present)], dtype=object)


_UTC = pd.DatetimeTZDtype(tz="UTC")


def _timestamps(stamps, present: np.ndarray):
    ns = np.fromiter(
        (t.seconds * 1_000_000_000 + t.nanos if p else _NAT for t, p in zip(stamps, present)),
        dtype=np.int64,
        count=len(stamps),
    )
    return pd.arrays.DatetimeArray(ns.view("datetime64[ns]"), dtype=_UTC)


def empty_frame(catalogue: Catalogue) -> pd.DataFrame:
    """empty_frame is the frame of no records, with every column."""
    return records_frame([], catalogue)
