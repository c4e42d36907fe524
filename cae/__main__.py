"""`python -m cae`: the `cae` command."""

import sys

from cae.cli import main

sys.exit(main())
