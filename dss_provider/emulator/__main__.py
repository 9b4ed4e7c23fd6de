"""``python -m dss_provider.emulator``: same as the ``dss-emulator`` command."""

import sys

from dss_provider.emulator.cli import main

sys.exit(main())
