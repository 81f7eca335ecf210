"""``python -m benchmarks [--quick|--smoke]``: every benchmark, side by side; see docs/benchmarks.md."""

import sys

from benchmarks.runner import main

sys.exit(main())
