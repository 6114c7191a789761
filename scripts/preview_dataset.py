#!/usr/bin/env python
"""`ahu-preview` from a checkout: the command line is `hf_loader.cli.preview_dataset.main` (see its --help)."""

import sys

from hf_loader.cli.preview_dataset import main

if __name__ == "__main__":
    sys.exit(main())
