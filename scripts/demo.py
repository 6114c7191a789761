#!/usr/bin/env python
"""`ahu-demo` from a checkout: the command line is `ahu_train.cli.demo.main` (see its --help)."""

import sys

from ahu_train.cli.demo import main

if __name__ == "__main__":
    sys.exit(main())
