#!/usr/bin/env python
"""Django's command-line utility for the TextVote portal."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line
    from django.db import DatabaseError

    try:
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as error:
        # A settings problem (a missing or malformed environment variable) is the operator's
        # to fix: say which, without a traceback.
        sys.exit(f"TextVote is not configured correctly: {error}")
    except DatabaseError as error:
        # Most often a database never set up (or not updated after an upgrade).
        sys.exit(
            f"The portal's database could not be used: {error}. If it is new or the code was "
            "updated, run `python manage.py migrate` first."
        )


if __name__ == "__main__":
    main()
