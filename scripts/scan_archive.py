#!/usr/bin/env python
"""`ahu-scan` from a checkout: the command line is `hf_loader.cli.scan_archive.main` (see its --help)."""

import sys

from hf_loader.cli.scan_archive import main

if __name__ == "__main__":
    sys.exit(main())
