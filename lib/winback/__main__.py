"""``python -m winback ...`` is the same as the ``winback`` command."""

import sys

from winback.cli import main

sys.exit(main())
