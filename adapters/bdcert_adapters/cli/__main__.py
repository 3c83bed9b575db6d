"""``python -m bdcert_adapters.cli``: the ``bdcert`` command line."""

import sys

from bdcert_adapters.cli import main

sys.exit(main())
