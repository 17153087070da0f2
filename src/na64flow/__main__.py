"""``python -m na64flow`` is the same as the ``na64flow`` command."""

import sys

from .cli import main

sys.exit(main())
