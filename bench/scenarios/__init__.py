"""The measured scenarios of ``python -m bench``, one module each.

Each takes the run's ``Options``, a fresh ``Backend`` and, on PostgreSQL, the
``PgWatch``; starts what it measures; and returns the rows that go into the
JSON. ``bench.run`` decides which scenario runs on which backend, and
``bench.report`` renders the rows.
"""
