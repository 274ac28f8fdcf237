"""The project's settings, plus the benchmark's counters (``bench.probe``).

The servers under test run with ``DJANGO_SETTINGS_MODULE=bench.settings``:
every setting is the deployment's own (read from the environment by
``acsportal.settings``); the only addition is the probe, which counts HTTP
requests and SQL statements per process when ``ACS_BENCH_PROBE_DIR`` is set.
"""

from acsportal.settings import *  # noqa: F403
from bench import probe

probe.install()
