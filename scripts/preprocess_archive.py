#!/usr/bin/env python
"""`ahu-preprocess` from a checkout: the command line is `hf_loader.cli.preprocess_archive.main` (see its --help)."""

import sys

from hf_loader.cli.preprocess_archive import main

if __name__ == "__main__":
    sys.exit(main())
