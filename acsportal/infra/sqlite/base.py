"""Django's SQLite backend, told the real bound-parameter limit.

Django 5.2 assumes SQLite's historic 999 parameters per statement, so a bulk
upsert of 300 parameter rows becomes three statements. SQLite 3.32+ allows
32,766 (and says so through ``getlimit``); Django 6 reads it the same way.
"""

import sqlite3

from django.db.backends.sqlite3 import base, features
from django.utils.functional import cached_property


class DatabaseFeatures(features.DatabaseFeatures):
    @cached_property
    def max_query_params(self) -> int:  # type: ignore[override]  # a plain attribute in the base
        self.connection.ensure_connection()
        return self.connection.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)


class DatabaseWrapper(base.DatabaseWrapper):
    features_class = DatabaseFeatures
