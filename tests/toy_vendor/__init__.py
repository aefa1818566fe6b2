"""A toy support tool, added through the registry alone: this package and one `register`
call are all pmsync learns of it (the recipe of README's "Adding a tool")."""

from __future__ import annotations

from connectors.base import configured_site
from connectors.registry import SUPPORT, Reader, Vendor
from tests.toy_vendor.client import (
    ToyConnector,
    ToySettings,
    read_ticket,
    ticket_from_raw,
)

VENDOR = Vendor(
    "toy",
    SUPPORT,
    ToyConnector,
    "toy_url",  # PMSYNC_TOY_URL, read by its own ToySettings (the core Settings lack it)
    configured_by=lambda s: bool(ToySettings().url),
    check=lambda s: ToyConnector(s).check(),
    lookups={"ticket": Reader("feedback", read_ticket)},
    rebuilders={
        "feedback": lambda raw, ctx, s: ticket_from_raw(
            raw, configured_site(ToySettings().url, "toy")
        )
    },
)
