"""`python -m charrnn_gui [PATH]`."""

import sys

from .app import main

sys.exit(main())
