"""`make bench`: the real server stack driven by the CPE simulator, measured.

See bench/README.md. Modules:

* ``run`` (``python -m bench``): the orchestrator — fresh databases, servers,
  scenarios, CPU/RSS accounting, JSON and Markdown results;
* ``loadgen``: the load generator process (cpesim ``Fleet``), driven over
  stdin/stdout by the orchestrator;
* ``ops``: Django-side chores on the bench database (seed, preload devices,
  queue tasks, connection requests, statistics), one subprocess per call;
* ``settings`` + ``probe``: the project's settings plus a query/request
  counter, so no application file needs a benchmark hook;
* ``floor``: the minimal CWMP app (codec parse, canned answers, no database).
"""
