"""`python -m backprop_ninja` is the `backprop-ninja` command."""

import sys

from backprop_ninja.cli import main

sys.exit(main())
