#!/usr/bin/env python
"""`ahu-convert-rvit` from a checkout: the command line is `modeling_rvit.convert_rvit_reference.main` (see its --help)."""

import sys

from modeling_rvit.convert_rvit_reference import main

if __name__ == "__main__":
    sys.exit(main())
