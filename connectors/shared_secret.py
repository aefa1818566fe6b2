"""Tools that sign nothing and send a shared secret in a header instead.

Freshdesk automations and Salesforce flows or Apex callouts can add custom headers but
cannot sign: the secret itself travels, over HTTPS only, and is compared in constant time.
There is no timestamp; the dedupe is all that stops a replay.
"""

from __future__ import annotations

from connectors.webhook import Rejected, SignedRequest, same


def verify(secret: bytes, header: str, request: SignedRequest) -> None:
    provided = request.header(header)
    if not provided:
        raise Rejected("missing signature")
    if not same(secret, provided.encode("latin-1", "replace")):
        raise Rejected("bad signature")
