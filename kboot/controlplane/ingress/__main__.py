"""``python -m kboot.controlplane.ingress`` (tests start the controller this way)."""

from __future__ import annotations

import sys

from kboot.controlplane.ingress.main import main

sys.exit(main())
