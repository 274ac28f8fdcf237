"""`make bench`: the real server stack driven by the CPE simulator, measured.

See bench/README.md. Modules:

* ``run`` (``python -m bench``): the orchestrator — fresh databases, servers,
  scenarios, CPU/RSS accounting, JSON and Markdown results; its parts:

  * ``cli``: the command line and the ``Options`` the scenarios read;
  * ``scenarios``: one module per measured scenario (``periodic`` with the
    floor, ``bootstrap``, ``connreq``, ``cluster``, ``overload``, ``simmem``);
  * ``backends``: the fresh SQLite or PostgreSQL + Redis database of a run;
  * ``servers``: the ACS or the floor on daphne, granian or gunicorn, and the
    nginx cluster; ``processes``: how every subprocess is started and stopped;
  * ``cpu``: CPU and RSS of each process group from /proc, PostgreSQL's
    share; ``profiling``: ``--profile`` (py-spy);
  * ``loadgen_client``: the orchestrator's end of the load generator's pipe;
  * ``report``: the Markdown table; ``common``: the tenant, its credentials,
    the paths and issue 5's targets;

* ``loadgen``: the load generator process (cpesim ``Fleet``), driven over
  stdin/stdout by the orchestrator;
* ``ops``: Django-side chores on the bench database (seed, preload devices,
  queue tasks, connection requests, statistics), one subprocess per call;
* ``settings`` + ``probe``: the project's settings plus a query/request
  counter, so no application file needs a benchmark hook;
* ``floor``: the minimal CWMP app (codec parse, canned answers, no database);
* ``million`` (``python -m bench.million``): a million devices in PostgreSQL,
  see bench/MILLION.md;
* ``inproc`` (``python -m bench.inproc``): the hot path without HTTP.
"""
