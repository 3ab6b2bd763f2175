"""The pairs get_features_for_pairs is given are checked before any call:
these run without a server."""

import numpy as np
import pandas as pd
import pytest

from featurestore_client import Client

BAD_PAIRS = [
    ("empty list", [], r"pairs: is empty"),
    ("empty iterator", iter(()), r"pairs: is empty"),
    ("None", None, r"pairs: is None; give \(customer_id, product_id\) pairs"),
    ("a str", "c1", r"pairs: is 'c1'; give"),
    ("an int", 5, r"pairs: is 5; give"),
    ("one customer's products", ["p1", "p2"], r"pairs\[0\]: is 'p1', not a \(customer_id, product_id\) pair; for one customer's products use get_features"),
    ("a str among pairs", [("c1", "p1"), "p2"], r"pairs\[1\]: is 'p2', not a"),
    ("a triple", [("c1", "p1"), ("c1", "p2", "p3")], r"pairs\[1\]: is \('c1', 'p2', 'p3'\), not a \(customer_id, product_id\) pair"),
    ("an int among pairs", [("c1", "p1"), 7], r"pairs\[1\]: is 7, not a"),
    ("an int id", [("c1", 7)], r"pairs\[0\]: its product_id is 7; ids are non-empty strings"),
    ("an empty id", [("c1", "p1"), ("", "p1")], r"pairs\[1\]: its customer_id is ''"),
    ("a None id", [("c1", None)], r"pairs\[0\]: its product_id is None"),
    ("a frame without rows", pd.DataFrame({"customer_id": [], "product_id": []}), r"pairs: the frame has no rows"),
    ("a frame without customer_id", pd.DataFrame({"customer": ["c1"], "product_id": ["p1"]}), r"pairs: the frame has no column customer_id; .*\(it has customer, product_id\)"),
    ("a frame without either column", pd.DataFrame({"label": [1]}), r"pairs: the frame has no column customer_id or product_id"),
    (
        "a None in a frame",
        pd.DataFrame({"customer_id": ["c1", "c2"], "product_id": ["p1", None]}, index=["a", "b"]),
        r"pairs: the product_id of row 1 \(index 'b'\) is None; ids are non-empty strings",
    ),
    (
        "a NaN in a frame",
        pd.DataFrame({"customer_id": ["c1", np.nan], "product_id": ["p1", "p2"]}),
        r"pairs: the customer_id of row 1 \(index 1\) is nan",
    ),
    ("an int in a frame", pd.DataFrame({"customer_id": [17], "product_id": ["p1"]}), r"pairs: the customer_id of row 0 \(index 0\) is 17"),
    (
        "two customer_id columns",
        pd.DataFrame([["c1", "p1", "c1"]], columns=["customer_id", "product_id", "customer_id"]),
        r"pairs: the frame has 2 columns named customer_id",
    ),
]


@pytest.fixture
def offline():
    """offline is a client of a port nothing listens on: a check that
    made a call would fail with UNAVAILABLE, not ValueError."""
    with Client("127.0.0.1:1", timeout=5) as c:
        yield c


@pytest.mark.parametrize("pairs, message", [c[1:] for c in BAD_PAIRS], ids=[c[0] for c in BAD_PAIRS])
def test_bad_pairs_are_refused_before_a_call(offline, pairs, message):
    with pytest.raises(ValueError, match=message):
        offline.get_features_for_pairs("shop", pairs)


def test_an_unknown_format_is_refused_before_a_call(offline):
    with pytest.raises(ValueError, match="format: is 'arrow'"):
        offline.get_features_for_pairs("shop", [("c1", "p1")], format="arrow")
