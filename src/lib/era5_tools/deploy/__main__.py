"""``python -m era5_tools.deploy``: see :mod:`era5_tools.deploy.cli`."""

import sys

from .cli import main

sys.exit(main())
