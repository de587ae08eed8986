"""`python -m core train|sample`: the command-line trainer and sampler."""

import sys

from .cli import main

sys.exit(main())
