"""Commands that act for a person: ``--as USERNAME`` scopes them by that person's roles.

Without it a command acts as the platform operator, who has a shell on the
server and reaches every tenant. With it every lookup goes through
``restrict(user, action)``, as the admin's and the API's do: another
tenant's tenant, device or task is "not found", never "not allowed".
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError, CommandParser
from django.db.models import QuerySet


def add_acting_argument(parser: CommandParser) -> None:
    parser.add_argument(
        "--as",
        dest="acting_as",
        metavar="USERNAME",
        help="act for this person, with only what their roles allow (default: the platform)",
    )


def acting_user(username: str | None) -> Any:
    """The active user ``--as`` names, or None for the platform operator."""
    if not username:
        return None
    user = get_user_model()._default_manager.filter(username=username, is_active=True).first()
    if user is None:
        raise CommandError(f"no active user {username!r}", returncode=2)
    return user


def scope(queryset: QuerySet[Any], user: Any, action: str) -> QuerySet[Any]:
    """``queryset`` as ``user`` may ``action`` it; unscoped for the platform operator."""
    return queryset if user is None else queryset.restrict(user, action)  # type: ignore[attr-defined]
