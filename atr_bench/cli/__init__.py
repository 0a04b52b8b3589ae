"""The ``atr-bench`` command line.

Idle OpenMP threads sleep instead of spinning (``OMP_WAIT_POLICY=PASSIVE``, unless the
environment sets it): spinning threads take the cores that the threads still working, and any
other process, need, and made an epoch several times slower on a CPU another process shares.
It is set here, before torch loads OpenMP (which reads it once); it changes no number.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
