from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

COMPUTE_MODE_FULL: ComputeMode
COMPUTE_MODE_INCREMENTAL: ComputeMode
COMPUTE_MODE_UNSPECIFIED: ComputeMode
DESCRIPTOR: _descriptor.FileDescriptor
FEATURE_STATUS_FOUND: FeatureStatus
FEATURE_STATUS_NOT_FOUND: FeatureStatus
FEATURE_STATUS_UNSPECIFIED: FeatureStatus
FEATURE_TYPE_FLOAT: FeatureType
FEATURE_TYPE_INT: FeatureType
FEATURE_TYPE_STRING: FeatureType
FEATURE_TYPE_TIMESTAMP: FeatureType
FEATURE_TYPE_UNSPECIFIED: FeatureType
FORMAT_MATRIX: Format
FORMAT_RECORDS: Format
FORMAT_UNSPECIFIED: Format

class ComputeFeaturesRequest(_message.Message):
    __slots__ = ["allow_past_as_of", "as_of", "customer_ids", "mode", "shop_id"]
    ALLOW_PAST_AS_OF_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_IDS_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    SHOP_ID_FIELD_NUMBER: _ClassVar[int]
    allow_past_as_of: bool
    as_of: _timestamp_pb2.Timestamp
    customer_ids: _containers.RepeatedScalarFieldContainer[str]
    mode: ComputeMode
    shop_id: str
    def __init__(self, shop_id: _Optional[str] = ..., as_of: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., customer_ids: _Optional[_Iterable[str]] = ..., mode: _Optional[_Union[ComputeMode, str]] = ..., allow_past_as_of: bool = ...) -> None: ...

class ComputeFeaturesResponse(_message.Message):
    __slots__ = ["progress", "summary"]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    progress: ComputeProgress
    summary: ComputeSummary
    def __init__(self, progress: _Optional[_Union[ComputeProgress, _Mapping]] = ..., summary: _Optional[_Union[ComputeSummary, _Mapping]] = ...) -> None: ...

class ComputeProgress(_message.Message):
    __slots__ = ["elapsed", "events_read", "order_lines_read", "pairs_computed", "pairs_written"]
    ELAPSED_FIELD_NUMBER: _ClassVar[int]
    EVENTS_READ_FIELD_NUMBER: _ClassVar[int]
    ORDER_LINES_READ_FIELD_NUMBER: _ClassVar[int]
    PAIRS_COMPUTED_FIELD_NUMBER: _ClassVar[int]
    PAIRS_WRITTEN_FIELD_NUMBER: _ClassVar[int]
    elapsed: _duration_pb2.Duration
    events_read: int
    order_lines_read: int
    pairs_computed: int
    pairs_written: int
    def __init__(self, events_read: _Optional[int] = ..., order_lines_read: _Optional[int] = ..., pairs_computed: _Optional[int] = ..., pairs_written: _Optional[int] = ..., elapsed: _Optional[_Union[_duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class ComputeSummary(_message.Message):
    __slots__ = ["as_of", "duration", "events_read", "features_version", "mode", "order_lines_read", "pairs_deleted", "pairs_written", "shop_id", "started_at"]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    EVENTS_READ_FIELD_NUMBER: _ClassVar[int]
    FEATURES_VERSION_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    ORDER_LINES_READ_FIELD_NUMBER: _ClassVar[int]
    PAIRS_DELETED_FIELD_NUMBER: _ClassVar[int]
    PAIRS_WRITTEN_FIELD_NUMBER: _ClassVar[int]
    SHOP_ID_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    as_of: _timestamp_pb2.Timestamp
    duration: _duration_pb2.Duration
    events_read: int
    features_version: int
    mode: ComputeMode
    order_lines_read: int
    pairs_deleted: int
    pairs_written: int
    shop_id: str
    started_at: _timestamp_pb2.Timestamp
    def __init__(self, shop_id: _Optional[str] = ..., mode: _Optional[_Union[ComputeMode, str]] = ..., as_of: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., features_version: _Optional[int] = ..., events_read: _Optional[int] = ..., order_lines_read: _Optional[int] = ..., pairs_written: _Optional[int] = ..., pairs_deleted: _Optional[int] = ..., started_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., duration: _Optional[_Union[_duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class DescribeFeaturesRequest(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class DescribeFeaturesResponse(_message.Message):
    __slots__ = ["features", "features_version"]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    FEATURES_VERSION_FIELD_NUMBER: _ClassVar[int]
    features: _containers.RepeatedCompositeFieldContainer[FeatureDescriptor]
    features_version: int
    def __init__(self, features_version: _Optional[int] = ..., features: _Optional[_Iterable[_Union[FeatureDescriptor, _Mapping]]] = ...) -> None: ...

class FeatureDescriptor(_message.Message):
    __slots__ = ["categories", "dense_index", "description", "max", "min", "name", "nullable", "type"]
    CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    DENSE_INDEX_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    MAX_FIELD_NUMBER: _ClassVar[int]
    MIN_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    NULLABLE_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    categories: _containers.RepeatedScalarFieldContainer[str]
    dense_index: int
    description: str
    max: float
    min: float
    name: str
    nullable: bool
    type: FeatureType
    def __init__(self, name: _Optional[str] = ..., type: _Optional[_Union[FeatureType, str]] = ..., nullable: bool = ..., min: _Optional[float] = ..., max: _Optional[float] = ..., description: _Optional[str] = ..., dense_index: _Optional[int] = ..., categories: _Optional[_Iterable[str]] = ...) -> None: ...

class FeatureKey(_message.Message):
    __slots__ = ["customer_id", "product_id"]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    product_id: str
    def __init__(self, customer_id: _Optional[str] = ..., product_id: _Optional[str] = ...) -> None: ...

class FeatureMatrix(_message.Message):
    __slots__ = ["columns", "computed_at_unix_micros", "features_version", "rows", "statuses", "values"]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    COMPUTED_AT_UNIX_MICROS_FIELD_NUMBER: _ClassVar[int]
    FEATURES_VERSION_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    STATUSES_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    columns: int
    computed_at_unix_micros: _containers.RepeatedScalarFieldContainer[int]
    features_version: int
    rows: int
    statuses: _containers.RepeatedScalarFieldContainer[FeatureStatus]
    values: bytes
    def __init__(self, rows: _Optional[int] = ..., columns: _Optional[int] = ..., values: _Optional[bytes] = ..., statuses: _Optional[_Iterable[_Union[FeatureStatus, str]]] = ..., computed_at_unix_micros: _Optional[_Iterable[int]] = ..., features_version: _Optional[int] = ...) -> None: ...

class FeatureRecord(_message.Message):
    __slots__ = ["as_of", "computed_at", "customer_id", "features", "features_version", "product_id"]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    COMPUTED_AT_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    FEATURES_VERSION_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    as_of: _timestamp_pb2.Timestamp
    computed_at: _timestamp_pb2.Timestamp
    customer_id: str
    features: Features
    features_version: int
    product_id: str
    def __init__(self, customer_id: _Optional[str] = ..., product_id: _Optional[str] = ..., features: _Optional[_Union[Features, _Mapping]] = ..., as_of: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., computed_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., features_version: _Optional[int] = ...) -> None: ...

class FeatureResult(_message.Message):
    __slots__ = ["record", "status", "vector"]
    RECORD_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    VECTOR_FIELD_NUMBER: _ClassVar[int]
    record: FeatureRecord
    status: FeatureStatus
    vector: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, status: _Optional[_Union[FeatureStatus, str]] = ..., record: _Optional[_Union[FeatureRecord, _Mapping]] = ..., vector: _Optional[_Iterable[float]] = ...) -> None: ...

class Features(_message.Message):
    __slots__ = ["cart_adds", "cart_conversion_rate", "cart_removes", "category_views", "channel_preference", "collection_views", "desktop_views", "direct_views", "engagement_score", "first_view_date", "intent_score", "interaction_quality_score", "last_purchase_date", "last_view_date", "loyalty_indicator", "mobile_views", "preferred_device", "purchase_quantity", "purchase_recency", "purchase_value", "purchases", "recommendation_score", "referral_views", "search_views", "seasonal_view_pattern", "tablet_views", "total_views", "unique_views", "view_consistency", "view_duration_avg", "view_frequency", "view_recency", "view_to_purchase_rate"]
    CART_ADDS_FIELD_NUMBER: _ClassVar[int]
    CART_CONVERSION_RATE_FIELD_NUMBER: _ClassVar[int]
    CART_REMOVES_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_VIEWS_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_PREFERENCE_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_VIEWS_FIELD_NUMBER: _ClassVar[int]
    DESKTOP_VIEWS_FIELD_NUMBER: _ClassVar[int]
    DIRECT_VIEWS_FIELD_NUMBER: _ClassVar[int]
    ENGAGEMENT_SCORE_FIELD_NUMBER: _ClassVar[int]
    FIRST_VIEW_DATE_FIELD_NUMBER: _ClassVar[int]
    INTENT_SCORE_FIELD_NUMBER: _ClassVar[int]
    INTERACTION_QUALITY_SCORE_FIELD_NUMBER: _ClassVar[int]
    LAST_PURCHASE_DATE_FIELD_NUMBER: _ClassVar[int]
    LAST_VIEW_DATE_FIELD_NUMBER: _ClassVar[int]
    LOYALTY_INDICATOR_FIELD_NUMBER: _ClassVar[int]
    MOBILE_VIEWS_FIELD_NUMBER: _ClassVar[int]
    PREFERRED_DEVICE_FIELD_NUMBER: _ClassVar[int]
    PURCHASES_FIELD_NUMBER: _ClassVar[int]
    PURCHASE_QUANTITY_FIELD_NUMBER: _ClassVar[int]
    PURCHASE_RECENCY_FIELD_NUMBER: _ClassVar[int]
    PURCHASE_VALUE_FIELD_NUMBER: _ClassVar[int]
    RECOMMENDATION_SCORE_FIELD_NUMBER: _ClassVar[int]
    REFERRAL_VIEWS_FIELD_NUMBER: _ClassVar[int]
    SEARCH_VIEWS_FIELD_NUMBER: _ClassVar[int]
    SEASONAL_VIEW_PATTERN_FIELD_NUMBER: _ClassVar[int]
    TABLET_VIEWS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_VIEWS_FIELD_NUMBER: _ClassVar[int]
    UNIQUE_VIEWS_FIELD_NUMBER: _ClassVar[int]
    VIEW_CONSISTENCY_FIELD_NUMBER: _ClassVar[int]
    VIEW_DURATION_AVG_FIELD_NUMBER: _ClassVar[int]
    VIEW_FREQUENCY_FIELD_NUMBER: _ClassVar[int]
    VIEW_RECENCY_FIELD_NUMBER: _ClassVar[int]
    VIEW_TO_PURCHASE_RATE_FIELD_NUMBER: _ClassVar[int]
    cart_adds: int
    cart_conversion_rate: float
    cart_removes: int
    category_views: int
    channel_preference: str
    collection_views: int
    desktop_views: int
    direct_views: int
    engagement_score: float
    first_view_date: _timestamp_pb2.Timestamp
    intent_score: float
    interaction_quality_score: float
    last_purchase_date: _timestamp_pb2.Timestamp
    last_view_date: _timestamp_pb2.Timestamp
    loyalty_indicator: float
    mobile_views: int
    preferred_device: str
    purchase_quantity: int
    purchase_recency: int
    purchase_value: float
    purchases: int
    recommendation_score: float
    referral_views: int
    search_views: int
    seasonal_view_pattern: float
    tablet_views: int
    total_views: int
    unique_views: int
    view_consistency: float
    view_duration_avg: float
    view_frequency: float
    view_recency: int
    view_to_purchase_rate: float
    def __init__(self, total_views: _Optional[int] = ..., unique_views: _Optional[int] = ..., view_duration_avg: _Optional[float] = ..., view_frequency: _Optional[float] = ..., engagement_score: _Optional[float] = ..., cart_adds: _Optional[int] = ..., cart_removes: _Optional[int] = ..., purchases: _Optional[int] = ..., cart_conversion_rate: _Optional[float] = ..., view_to_purchase_rate: _Optional[float] = ..., search_views: _Optional[int] = ..., category_views: _Optional[int] = ..., collection_views: _Optional[int] = ..., direct_views: _Optional[int] = ..., referral_views: _Optional[int] = ..., first_view_date: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., last_view_date: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., view_recency: _Optional[int] = ..., view_consistency: _Optional[float] = ..., seasonal_view_pattern: _Optional[float] = ..., mobile_views: _Optional[int] = ..., desktop_views: _Optional[int] = ..., tablet_views: _Optional[int] = ..., preferred_device: _Optional[str] = ..., channel_preference: _Optional[str] = ..., interaction_quality_score: _Optional[float] = ..., intent_score: _Optional[float] = ..., loyalty_indicator: _Optional[float] = ..., recommendation_score: _Optional[float] = ..., purchase_quantity: _Optional[int] = ..., purchase_value: _Optional[float] = ..., last_purchase_date: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., purchase_recency: _Optional[int] = ...) -> None: ...

class GetFeaturesRequest(_message.Message):
    __slots__ = ["customer_id", "format", "include_vector", "keys", "product_ids", "shop_id"]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_VECTOR_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_IDS_FIELD_NUMBER: _ClassVar[int]
    SHOP_ID_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    format: Format
    include_vector: bool
    keys: _containers.RepeatedCompositeFieldContainer[FeatureKey]
    product_ids: _containers.RepeatedScalarFieldContainer[str]
    shop_id: str
    def __init__(self, shop_id: _Optional[str] = ..., customer_id: _Optional[str] = ..., product_ids: _Optional[_Iterable[str]] = ..., keys: _Optional[_Iterable[_Union[FeatureKey, _Mapping]]] = ..., include_vector: bool = ..., format: _Optional[_Union[Format, str]] = ...) -> None: ...

class GetFeaturesResponse(_message.Message):
    __slots__ = ["matrix", "results"]
    MATRIX_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    matrix: FeatureMatrix
    results: _containers.RepeatedCompositeFieldContainer[FeatureResult]
    def __init__(self, results: _Optional[_Iterable[_Union[FeatureResult, _Mapping]]] = ..., matrix: _Optional[_Union[FeatureMatrix, _Mapping]] = ...) -> None: ...

class IngestInteractionsRequest(_message.Message):
    __slots__ = ["interactions"]
    INTERACTIONS_FIELD_NUMBER: _ClassVar[int]
    interactions: _containers.RepeatedCompositeFieldContainer[Interaction]
    def __init__(self, interactions: _Optional[_Iterable[_Union[Interaction, _Mapping]]] = ...) -> None: ...

class IngestInteractionsResponse(_message.Message):
    __slots__ = ["duplicates", "inserted"]
    DUPLICATES_FIELD_NUMBER: _ClassVar[int]
    INSERTED_FIELD_NUMBER: _ClassVar[int]
    duplicates: int
    inserted: int
    def __init__(self, inserted: _Optional[int] = ..., duplicates: _Optional[int] = ...) -> None: ...

class Interaction(_message.Message):
    __slots__ = ["client_id", "created_at", "customer_id", "device_type", "event_type", "id", "metadata", "page_type", "product_id", "referrer_type", "shop_id", "view_duration"]
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    DEVICE_TYPE_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    PAGE_TYPE_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    REFERRER_TYPE_FIELD_NUMBER: _ClassVar[int]
    SHOP_ID_FIELD_NUMBER: _ClassVar[int]
    VIEW_DURATION_FIELD_NUMBER: _ClassVar[int]
    client_id: str
    created_at: _timestamp_pb2.Timestamp
    customer_id: str
    device_type: str
    event_type: str
    id: str
    metadata: _struct_pb2.Struct
    page_type: str
    product_id: str
    referrer_type: str
    shop_id: str
    view_duration: float
    def __init__(self, id: _Optional[str] = ..., shop_id: _Optional[str] = ..., customer_id: _Optional[str] = ..., product_id: _Optional[str] = ..., event_type: _Optional[str] = ..., page_type: _Optional[str] = ..., device_type: _Optional[str] = ..., referrer_type: _Optional[str] = ..., view_duration: _Optional[float] = ..., created_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., client_id: _Optional[str] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class StreamFeaturesRequest(_message.Message):
    __slots__ = ["as_of", "batch_size", "compute", "customer_ids", "resume_token", "shop_id", "updated_since"]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_IDS_FIELD_NUMBER: _ClassVar[int]
    RESUME_TOKEN_FIELD_NUMBER: _ClassVar[int]
    SHOP_ID_FIELD_NUMBER: _ClassVar[int]
    UPDATED_SINCE_FIELD_NUMBER: _ClassVar[int]
    as_of: _timestamp_pb2.Timestamp
    batch_size: int
    compute: bool
    customer_ids: _containers.RepeatedScalarFieldContainer[str]
    resume_token: str
    shop_id: str
    updated_since: _timestamp_pb2.Timestamp
    def __init__(self, shop_id: _Optional[str] = ..., batch_size: _Optional[int] = ..., resume_token: _Optional[str] = ..., updated_since: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., customer_ids: _Optional[_Iterable[str]] = ..., as_of: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., compute: bool = ...) -> None: ...

class StreamFeaturesResponse(_message.Message):
    __slots__ = ["records", "resume_token"]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    RESUME_TOKEN_FIELD_NUMBER: _ClassVar[int]
    records: _containers.RepeatedCompositeFieldContainer[FeatureRecord]
    resume_token: str
    def __init__(self, records: _Optional[_Iterable[_Union[FeatureRecord, _Mapping]]] = ..., resume_token: _Optional[str] = ...) -> None: ...

class ComputeMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class Format(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class FeatureStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class FeatureType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []
