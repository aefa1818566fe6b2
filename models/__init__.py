"""Shared pydantic models and settings; no I/O."""

from models.records import (
    Account,
    CustomerDemand,
    Deal,
    DemandSummary,
    Feedback,
    FeedbackRef,
    Issue,
    Link,
    Quote,
    Record,
    RecordKind,
    ToolLink,
)
from models.settings import ConfigError, CoreSettings

__all__ = [
    "Account",
    "ConfigError",
    "CoreSettings",
    "CustomerDemand",
    "Deal",
    "DemandSummary",
    "Feedback",
    "FeedbackRef",
    "Issue",
    "Link",
    "Quote",
    "Record",
    "RecordKind",
    "ToolLink",
]
