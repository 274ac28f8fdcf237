"""`python -m cpesim`: see cpesim/README.md."""

from .cli import main

raise SystemExit(main())
