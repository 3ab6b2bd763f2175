"""featurestore_client: a Python client of the featurestore gRPC service.

    from featurestore_client import Client

    with Client("127.0.0.1:50051", api_key="fsk_...") as fs:
        df = fs.get_features("demo-shop", "c1", ["p1", "p2"])         # DataFrame
        m = fs.get_features("demo-shop", "c1", ["p1", "p2"], format="matrix")
        pairs = fs.get_features_for_pairs("demo-shop", [("c1", "p1"), ("c2", "p1")])
        for batch in fs.stream_features("demo-shop", batch_size=5000):
            ...                                                       # DataFrames
        train = fs.to_pandas("demo-shop")
        summary = fs.compute("demo-shop", progress=True)
"""

from .client import API_KEY_ENV, MAX_PAIRS_PER_CALL, Client, ComputeSummary, Progress
from .errors import ERROR_DOMAIN, FeatureStoreError
from .frames import Catalogue, Feature
from .matrix import FeatureMatrix, LayoutMismatch, MatrixUnsupported

__version__ = "0.1.0"

__all__ = [
    "API_KEY_ENV",
    "Catalogue",
    "Client",
    "ComputeSummary",
    "ERROR_DOMAIN",
    "Feature",
    "FeatureMatrix",
    "FeatureStoreError",
    "LayoutMismatch",
    "MAX_PAIRS_PER_CALL",
    "MatrixUnsupported",
    "Progress",
    "__version__",
]
