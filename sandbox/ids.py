"""Record ids in each vendor's own shape: Salesforce's 18-character ids, Intercom's
24-hex-digit object ids."""

import random
import string
from datetime import datetime

BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
CHECKSUM = string.ascii_uppercase + "012345"
# Salesforce key prefixes: the first three characters name the object type.
PREFIXES = {
    "Account": "001",
    "Opportunity": "006",
    "Task": "00T",
    "User": "005",
    "Org": "00D",
    "QueryLocator": "01g",
    "AsyncApexJob": "750",  # a Bulk API job
}


def _base62(number: int, width: int) -> str:
    digits = []
    for _ in range(width):
        number, digit = divmod(number, 62)
        digits.append(BASE62[digit])
    return "".join(reversed(digits))


def salesforce_id(kind: str, number: int) -> str:
    """The 18-character, case-insensitive form: 15 characters, then one checksum character
    per 5-character chunk whose bits mark the chunk's upper-case letters."""
    short = f"{PREFIXES[kind]}Dn000{_base62(number, 7)}"
    suffix = ""
    for chunk in (short[0:5], short[5:10], short[10:15]):
        bits = sum(1 << i for i, char in enumerate(chunk) if char.isupper())
        suffix += CHECKSUM[bits]
    return short + suffix


def object_id(rng: random.Random, created: datetime) -> str:
    """Intercom's ids are MongoDB object ids: 4 bytes of creation time, then 8 random bytes."""
    return f"{int(created.timestamp()) & 0xFFFFFFFF:08x}{rng.getrandbits(64):016x}"
