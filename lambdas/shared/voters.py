"""Voter pseudonymisation: a phone number never leaves the ingest function.

The voter key is HMAC-SHA256 over the poll id and the E.164 number, keyed with a secret that
lives in the secret store. Including the poll id makes keys of the same phone unlinkable across
polls; the secret makes them irreversible for anyone who can read the votes table (a plain
hash of a phone number is reversed by enumerating the number space).
"""

from __future__ import annotations

import hashlib
import hmac

from lambdas.shared.channels import address_on, split_address

# 128 bits: collisions between two voters of one poll are out of reach, and the item stays small.
VOTER_KEY_HEX_CHARS = 32


def voter_key(secret: bytes, poll_id: str, phone_number: str, key_version: int = 1) -> str:
    """The voter's pseudonym in the poll. `phone_number` is the bare E.164 number, on every
    channel (channels.split_address), so one phone has one vote whether it texts or uses
    WhatsApp."""
    # Version 1 keeps the original input, so keys stored before versions existed still match.
    prefix = poll_id if key_version == 1 else f"{poll_id}\n{key_version}"
    message = f"{prefix}\n{phone_number}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()[:VOTER_KEY_HEX_CHARS]


def mask_phone(phone_number: str) -> str:
    """What logs may show of a number (bare or "whatsapp:"-prefixed): its channel prefix,
    country prefix and last two digits."""
    channel, number = split_address(phone_number)
    if len(number) <= 6:
        return address_on(channel, "***")
    return address_on(channel, number[:3] + "*" * (len(number) - 5) + number[-2:])
