"""A million devices in PostgreSQL (issue 5): a loader, the measurements, a layout experiment.

    python -m bench.million load    [--devices N] [--full-trees N] [--reset]
    python -m bench.million measure [--repeat N] [--json PATH] [--no-interned]
    python -m bench.million all     [both sets of options]
    python -m bench.million indexes (the index experiments alone)

Runs on ``DATABASE_URL`` (default ``postgres://postgres@127.0.0.1:5432/acs_million``),
creating that database and migrating it when needed. Method and results:
bench/MILLION.md.

The loader writes straight into the application's tables with ``COPY ... FROM
STDIN`` (psycopg 3), rows generated in Python streams from the simulator's
real dumps (cpesim/dumps): a device row per CPE with its summary columns,
the Inform parameters plus a few dozen refreshed or provisioned ones per
device, one session log per device, and for ``--full-trees`` devices their
whole tree (every object and leaf of the dump). Ordinary devices are loaded
first and full-tree devices after them, with table sizes taken in between,
so bytes per device are measured separately for the two kinds.

``measure`` times the queries of the issue's targets on the current schema
(client wall time and ``EXPLAIN (ANALYZE, BUFFERS)``), then builds the same
parameters in an experimental interned layout (``bench_param_path`` +
``bench_param_interned``) and times the same questions there.

The bulk measurement queues a task for ~100,000 devices through
``provisioning.services.task_enqueue_bulk`` (one INSERT ... SELECT and the
UPDATE of ``Device.has_tasks``), beside ``task_enqueue`` one device at a time.

The package, one module per step: ``generate`` (the fleet's rows),
``loader`` (``load``), ``measure`` (the targets, with the SQL of ``queries``
timed by ``timing``), ``periodic`` and ``bulk`` (the write paths),
``indexes`` and ``interned`` (the two experiments), ``db`` (table sizes and
``bench_million_meta``), ``report`` (``markdown``) and ``cli`` (``main``).
"""
