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
from models.settings import ConfigError, Settings, load_settings

__all__ = [
    "Account",
    "ConfigError",
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
    "Settings",
    "ToolLink",
    "load_settings",
]
