"""Jira remote links: what a support tool's or a CRM's Jira app keeps on an issue, pointing
at a ticket, a conversation or a deal (`GET /rest/api/3/issue/{key}/remotelink`).

A remote link names its target only by URL, so the URL says which record it is: under a
tool's configured site (`PMSYNC_ZENDESK_URL`, ...) or on the vendor's own hosts, the path
that tool's web app uses for a ticket or deal gives the record's id. Links to anything
else (a wiki page, a pull request) are not tool links and are left out.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from connectors import registry
from connectors.jira.settings import JiraSettings
from connectors.registry import RecordPages
from models import ToolLink

# Jira keeps no time for a remote link: one constant time keeps an unchanged link's
# stored payload unchanged, so re-reading it changes nothing.
NO_TIME = datetime(1970, 1, 1, tzinfo=UTC)


def sites(settings: JiraSettings) -> dict[str, str]:
    """Each configured tool's site, without a trailing slash."""
    with_pages = [v for v in registry.vendors() if v.record_pages is not None]
    configured = {v.name: getattr(settings, v.url_field, None) for v in with_pages}
    return {tool: url.rstrip("/") for tool, url in configured.items() if url}


def _record_pages() -> dict[str, RecordPages]:
    """Each tool's record URLs (connectors.registry.Vendor.record_pages)."""
    return {v.name: v.record_pages for v in registry.vendors() if v.record_pages is not None}


def record_of(url: str, tool_sites: dict[str, str]) -> tuple[str, str] | None:
    """(tool, record id) of the ticket or deal `url` shows, or None."""
    pages = _record_pages()
    for tool, site in tool_sites.items():
        if url.startswith(site + "/") and tool in pages:
            found = pages[tool].path.search(url[len(site) :])
            return (tool, found.group(1)) if found else None
    host = (urlsplit(url).hostname or "").lower()
    for tool, page in pages.items():
        if any(host == h or host.endswith("." + h) for h in page.hosts):
            found = page.path.search(urlsplit(url).path)
            return (tool, found.group(1)) if found else None
    return None


def target_url(raw: Any) -> str:
    """The URL a raw remote link points at ("" when it has none)."""
    return str(((raw.get("object") or {}) if isinstance(raw, dict) else {}).get("url") or "")


def remote_link_from_raw(
    raw: dict[str, Any], issue_key: str, tool_sites: dict[str, str]
) -> ToolLink:
    """The tool link one remote link is; a link to no ticket or deal is refused."""
    target = record_of(target_url(raw), tool_sites)
    if target is None:
        raise ValueError("the remote link points at no ticket or deal pmsync reads")
    return ToolLink(
        source="jira",
        id=str(raw["id"]),
        url=str(raw.get("self") or ""),
        record_source=target[0],
        record_id=target[1],
        issue_key=issue_key,
        updated_at=NO_TIME,
    )
