"""`python -m backprop_ninja` is the `backprop-ninja` command."""

import sys

from .cli import main

sys.exit(main())
