#!/usr/bin/env python
"""`ahu-make-sample-archive` from a checkout: the command line is `hf_loader.cli.make_sample_archive.main` (see its --help)."""

import sys

from hf_loader.cli.make_sample_archive import main

if __name__ == "__main__":
    sys.exit(main())
