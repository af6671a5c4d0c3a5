"""The channels a vote arrives by: SMS, or WhatsApp through the same Twilio webhook.

Twilio sends a WhatsApp message's numbers as "whatsapp:" + the E.164 number
(From=whatsapp:+15551230001, To=whatsapp:+15005550006) and an SMS's as the bare number. A
phone is one voter whatever the channel: everything but the vote's record of its channel
(and the reply's wording) works on the bare number (split_address).
"""

from __future__ import annotations

from enum import StrEnum


class Channel(StrEnum):
    SMS = "sms"
    WHATSAPP = "whatsapp"

    @property
    def display_name(self) -> str:
        """How voters and organisers read it: "SMS", "WhatsApp"."""
        return _DISPLAY_NAMES[self]


_DISPLAY_NAMES = {Channel.SMS: "SMS", Channel.WHATSAPP: "WhatsApp"}
# What Twilio puts before both numbers of a WhatsApp message.
WHATSAPP_PREFIX = "whatsapp:"


class PollChannels(StrEnum):
    """The channels a poll takes votes by (a poll setting; BOTH unless narrowed)."""

    SMS = "sms"
    WHATSAPP = "whatsapp"
    BOTH = "both"

    def takes(self, channel: Channel) -> bool:
        return self is PollChannels.BOTH or self.value == channel.value

    @property
    def display_name(self) -> str:
        """ "SMS", "WhatsApp", or "SMS or WhatsApp"."""
        if self is PollChannels.BOTH:
            return f"{Channel.SMS.display_name} or {Channel.WHATSAPP.display_name}"
        return Channel(self.value).display_name


def split_address(address: str) -> tuple[Channel, str]:
    """ "whatsapp:+15551230001" -> (WHATSAPP, "+15551230001"); "+1555…" -> (SMS, "+1555…").
    The number is returned as given, not checked (parsing.is_e164 does)."""
    if address.startswith(WHATSAPP_PREFIX):
        return Channel.WHATSAPP, address[len(WHATSAPP_PREFIX) :]
    return Channel.SMS, address


def address_on(channel: Channel, number: str) -> str:
    """The From/To value Twilio sends for an E.164 `number` on `channel`."""
    return WHATSAPP_PREFIX + number if channel is Channel.WHATSAPP else number
