"""Tools that sign nothing and send a shared secret in a header instead.

Freshdesk automations and Salesforce flows or Apex callouts can add custom headers but
cannot sign: the secret itself travels, over HTTPS only, and is compared in constant time.
There is no timestamp; the dedupe is all that stops a replay.
"""

from __future__ import annotations

from connectors.webhook import SignedRequest, require_signature, signature


def verify(secret: bytes, header: str, request: SignedRequest) -> None:
    require_signature(secret, signature(request, header).encode("latin-1", "replace"))
