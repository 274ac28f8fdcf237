"""`python -m bench.million`: see bench/million/__init__.py and bench/MILLION.md."""

import sys

from bench.million.cli import main

sys.exit(main())
