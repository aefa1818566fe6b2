"""Internal notes on support tickets and CRM deals, for closing the loop: what every
tool's note writer (`connectors/<tool>/notes.py`, the vendor's `notes`) shares.

Each note ends with a marker naming the issue and the transition, so a run that died after
writing a note and before recording it finds that note instead of writing a second one.

A note carries text people typed elsewhere (an issue summary, a version name), so each is
written in the form its field is rendered in, and arrives as the literal text, never as
markup: escaped HTML (`as_html`) where the tool renders HTML or Markdown, plain text
(`plain`) where it shows a text area as typed.
"""

from __future__ import annotations

import html
import re
from typing import Any, Protocol

# C0 control characters other than tab and newline (and DEL): no one types them, HTML
# cannot carry them (a NUL becomes U+FFFD) and some APIs refuse them.
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


# The marker `marker` makes, as found in a note coming back (webhooks' own-write checks).
NOTE_MARKER = re.compile(r"\[pmsync [A-Za-z][A-Za-z0-9_]*-\d+ [^\]]+\]")


def marker(issue_key: str, transition: str) -> str:
    return f"[pmsync {issue_key} {transition}]"


def plain(text: str) -> str:
    """The text with its line breaks as `\n` (a `\r\n` or lone `\r` typed on Windows or
    an old Mac is one break) and no control characters."""
    return _CONTROLS.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def as_html(text: str) -> str:
    """HTML that shows exactly `text`: `<`, `>`, `&` and both quotes escaped (a `<script>`
    or `</p>` in a summary stays words, `&amp;` shows as typed), a `<br>` per line break."""
    return "<p>" + html.escape(plain(text), quote=True).replace("\n", "<br>") + "</p>"


def holds(mark: str, *bodies: Any) -> bool:
    """Whether a note's body, as the tool returns it (plain text, or HTML in which the
    mark's `&` or quotes may come back escaped), carries `mark`."""
    return any(
        isinstance(body, str) and (mark in body or mark in html.unescape(body)) for body in bodies
    )


class NoteWriter(Protocol):
    def find(self, record_id: str, mark: str) -> str | None: ...

    def add(self, record_id: str, text: str, mark: str) -> str:
        """Write the note (its text ends with `mark`) exactly once; return its id."""
        ...
