"""``python -m gateway``: the ``oso-gateway`` command."""

import sys

from .commands import main

sys.exit(main())
