"""``python -m wsad_core ...`` is ``wsad ...`` (e.g. ``torchrun --nproc_per_node=4 -m wsad_core run ...``)."""

from __future__ import annotations

import sys

from wsad_core.cli import main

if __name__ == "__main__":
    sys.exit(main())
