"""``python -m lambda_connect.cli`` runs the same command line as ``lambda-connect``."""

import sys

from lambda_connect.cli import main

sys.exit(main())
