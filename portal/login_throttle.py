"""Throttling logins to the portal: a password cannot be guessed at speed, and nobody can lock
an organiser out.

Failures are counted per (username, client address) pair, and per client address over every
username. Past FREE_FAILURES failures of a pair (ADDRESS_FREE_FAILURES of an address), each
further attempt from it must wait, from its last failure, twice as long as the one before:
BASE_DELAY_SECONDS, then twice that, up to MAX_DELAY_SECONDS. While it waits even the right
password is refused there, so guessing stays slow; the organiser signing in from elsewhere never
waits for somebody else's failures. A successful login forgets its pair's failures; any count is
forgotten FORGET_AFTER_SECONDS after its last failure.

The client address is the connection's (REMOTE_ADDR), or, behind the TRUSTED_PROXY_COUNT
proxies the settings name (a TLS load balancer), the address the outermost of them saw: the
right-most X-Forwarded-For entry they did not add themselves. Entries left of it are whatever
the client sent, so they are never read, and without a configured proxy the header is ignored.

Counts live in Django's cache: per process with the default local-memory cache, so a portal run
as several processes should configure a shared cache (CACHES) to share them.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.http import HttpRequest

FREE_FAILURES = 3
ADDRESS_FREE_FAILURES = 20
BASE_DELAY_SECONDS = 2.0
MAX_DELAY_SECONDS = 15 * 60.0
FORGET_AFTER_SECONDS = 24 * 60 * 60


def now() -> float:
    """The wall clock (the cache may be shared by several processes)."""
    return time.time()


@dataclass(frozen=True)
class _Counter:
    key: str
    free_failures: int


def client_address(request: HttpRequest) -> str:
    """The address of whoever sent `request`, as far as a trusted proxy vouches for it."""
    remote = str(request.META.get("REMOTE_ADDR", ""))
    proxies: int = settings.TRUSTED_PROXY_COUNT
    if proxies <= 0:
        return remote
    forwarded = [
        entry.strip()
        for entry in str(request.META.get("HTTP_X_FORWARDED_FOR", "")).split(",")
        if entry.strip()
    ]
    if len(forwarded) < proxies:
        return remote  # it did not come through every trusted proxy
    candidate = forwarded[-proxies]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote


def _counters(request: HttpRequest | None, username: str) -> list[_Counter]:
    address = client_address(request) if request is not None else ""
    # Hashed: a username or address never appears in a cache key (or a cache server's log).
    pair = hashlib.sha256(f"{username.strip().casefold()}\n{address}".encode()).hexdigest()
    counters = [_Counter(f"login-failures:pair:{pair}", FREE_FAILURES)]
    if address:
        hashed = hashlib.sha256(address.encode()).hexdigest()
        counters.append(_Counter(f"login-failures:address:{hashed}", ADDRESS_FREE_FAILURES))
    return counters


def delay_after(failures: int, free_failures: int) -> float:
    """How long the attempt after `failures` failures must wait after the last one."""
    if failures < free_failures:
        return 0.0
    return min(MAX_DELAY_SECONDS, BASE_DELAY_SECONDS * 2.0 ** (failures - free_failures))


def seconds_to_wait(request: HttpRequest | None, username: str) -> int:
    """How long before this username may be tried from this request's address; 0: now."""
    wait = 0.0
    for counter in _counters(request, username):
        failures, last = cache.get(counter.key, (0, 0.0))
        wait = max(wait, last + delay_after(failures, counter.free_failures) - now())
    return math.ceil(wait) if wait > 0 else 0


def record_failure(request: HttpRequest | None, username: str) -> None:
    for counter in _counters(request, username):
        failures, _last = cache.get(counter.key, (0, 0.0))
        cache.set(counter.key, (failures + 1, now()), FORGET_AFTER_SECONDS)


def record_success(request: HttpRequest | None, username: str) -> None:
    cache.delete(_counters(request, username)[0].key)


class ThrottledAdminLoginForm(AdminAuthenticationForm):
    def clean(self) -> dict[str, object]:
        username = str(self.cleaned_data.get("username") or "")
        wait = seconds_to_wait(self.request, username)
        if wait:
            seconds = f"{wait} second{'s' if wait != 1 else ''}"
            raise ValidationError(
                f"Too many failed logins from here. Wait {seconds} before trying again.",
                code="throttled",
            )
        try:
            cleaned = super().clean()
        except ValidationError:
            record_failure(self.request, username)
            raise
        record_success(self.request, username)
        return cleaned
