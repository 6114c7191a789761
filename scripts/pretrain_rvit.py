#!/usr/bin/env python
"""`ahu-pretrain` from a checkout: the command line is `ahu_train.cli.pretrain_rvit.main` (see its --help)."""

import sys

from ahu_train.cli.pretrain_rvit import main

if __name__ == "__main__":
    sys.exit(main())
