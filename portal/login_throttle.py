"""Throttling logins to the portal: a password cannot be guessed at speed.

After MAX_FAILURES failed logins for one username, or from one address, within WINDOW
seconds, further attempts are refused (even with the right password) until the window has
passed. Counts live in Django's cache: per process with the default local-memory cache, so a
portal run as several processes should configure a shared cache (CACHES) to share them.
"""

from __future__ import annotations

from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.http import HttpRequest

MAX_FAILURES = 5
WINDOW = 15 * 60


def _keys(request: HttpRequest | None, username: str) -> list[str]:
    keys = [f"login-failures:user:{username.strip().casefold()}"]
    if request is not None:
        keys.append(f"login-failures:ip:{request.META.get('REMOTE_ADDR', '')}")
    return keys


def is_throttled(request: HttpRequest | None, username: str) -> bool:
    return any(cache.get(key, 0) >= MAX_FAILURES for key in _keys(request, username))


def record_failure(request: HttpRequest | None, username: str) -> None:
    for key in _keys(request, username):
        if not cache.add(key, 1, WINDOW):
            try:
                cache.incr(key)
            except ValueError:  # expired between add and incr
                cache.add(key, 1, WINDOW)


class ThrottledAdminLoginForm(AdminAuthenticationForm):
    def clean(self) -> dict[str, object]:
        username = str(self.cleaned_data.get("username") or "")
        if is_throttled(self.request, username):
            raise ValidationError(
                "Too many failed logins. Wait 15 minutes before trying again.",
                code="throttled",
            )
        try:
            return super().clean()
        except ValidationError:
            record_failure(self.request, username)
            raise
