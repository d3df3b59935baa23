#!/usr/bin/env python
"""Django's command-line utility; `openchargeback` is the same with a friendlier name."""

import sys

from chargeback.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv))
