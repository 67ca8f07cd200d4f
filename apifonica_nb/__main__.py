"""``python -m apifonica_nb`` is the ``apifonica-nb`` command."""

import sys

from .cli import main

sys.exit(main())
