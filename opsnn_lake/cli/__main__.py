"""``python -m opsnn_lake.cli``: the same as ``opsnn-lake``."""

import sys

from opsnn_lake.cli import main

sys.exit(main())
