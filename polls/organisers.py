"""The Organisers group: staff users who manage their own polls in the admin."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser, Group, Permission, User
from django.db.models import QuerySet

from polls.models import Poll

ORGANISERS_GROUP = "Organisers"
_CODENAMES = [
    f"{action}_{model}"
    for model in ("poll", "category")
    for action in ("add", "change", "delete", "view")
]


def ensure_organisers_group() -> Group:
    """Create the group if needed and make sure it has the poll and category permissions.

    Permissions are added, never replaced, so extra ones an administrator granted survive.
    """
    permissions = list(
        Permission.objects.filter(content_type__app_label="polls", codename__in=_CODENAMES)
    )
    if len(permissions) != len(_CODENAMES):
        # Django creates permissions after migrating; without them the group would be useless.
        raise LookupError("the polls permissions do not exist yet; run `manage.py migrate` first")
    group, _created = Group.objects.get_or_create(name=ORGANISERS_GROUP)
    group.permissions.add(*permissions)
    return group


def polls_of(user: User | AnonymousUser) -> QuerySet[Poll]:
    """The polls `user` may see: their own, or every poll for a superuser. The admin and the
    portal's own views both filter through this, so no URL reaches another organiser's poll."""
    if not user.is_authenticated:
        return Poll.objects.none()
    if user.is_superuser:
        return Poll.objects.all()
    return Poll.objects.filter(owner=user)
