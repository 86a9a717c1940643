"""What machine produced a figure, peak memory, and thread limits."""
from __future__ import annotations

import os
import platform
import resource
import sys


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def machine_info() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in _read("/proc/cpuinfo").splitlines()
                if line.startswith("model name")), platform.processor() or platform.machine())
    mem_kb = next((int(line.split()[1]) for line in _read("/proc/meminfo").splitlines()
                   if line.startswith("MemTotal:")), 0)
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 1
    import cv2
    import numpy

    info = {"cpu": cpu, "cores": os.cpu_count(), "usable_cores": usable, "ram_gb": round(mem_kb / 2**20, 1),
            "os": platform.platform(), "python": platform.python_version(),
            "numpy": numpy.__version__, "opencv": cv2.__version__}
    if "torch" in sys.modules:
        info["torch"] = sys.modules["torch"].__version__
    return info


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (Linux ``clear_refs`` 5); False where not allowed.

    With the reset, ``ru_maxrss`` read after a tracker ran is that tracker's own
    peak (plus the interpreter); without it the figure is the process's peak so far.
    """
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_rss_mb() -> float:
    """``resource.getrusage(RUSAGE_SELF).ru_maxrss`` in MiB (kilobytes on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def limit_threads(threads: int) -> dict:
    """Cap compute threads for a benchmark run; returns what was set.

    OpenCV's pool is capped always.  torch is capped only if it is already
    imported (by the tracker's own ``create``): importing it here would cost an
    OpenCV-only run seconds and hundreds of MB of peak RSS for nothing.
    """
    import cv2

    cv2.setNumThreads(int(threads))
    done = {"opencv": int(threads)}
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(int(threads))
        done["torch"] = int(threads)
    return done
