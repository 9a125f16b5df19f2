"""Run one command and print its wall time, CPU seconds and peak RSS (one line).

``python -m benchmarks.measure CMD ...``. The runner goes through this small process on
purpose: on Linux a child's ``ru_maxrss`` starts from the RSS of the process that forked it,
so a child forked by the (large) runner would report the runner's memory, not its own.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time


def main() -> int:
    started = time.perf_counter()
    proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    print(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, flush=True)
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main())
