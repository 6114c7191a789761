#!/usr/bin/env python
"""`ahu-evaluate` from a checkout: the command line is `ahu_train.cli.evaluate_rvit.main` (see its --help)."""

import sys

from ahu_train.cli.evaluate_rvit import main

if __name__ == "__main__":
    sys.exit(main())
