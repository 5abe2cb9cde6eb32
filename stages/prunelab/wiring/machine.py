"""The machine a stage ran on, for the reports: results and timings hold for that CPU.

A leaf module: training records it beside its accuracy (another CPU kind may give other bits),
the benchmark beside its latencies.
"""

from __future__ import annotations

import platform
from pathlib import Path


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU as Linux names it (``model name``, family, model, AVX-512 or not): timings hold
    only for it. ``platform.processor()`` is empty on Linux, so ``cpuinfo`` is read."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return platform.processor() or "unknown"
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    avx512 = "avx512f" in fields.get("flags", "").split()
    return (f"{fields.get('model name', 'unknown')} (family {fields.get('cpu family', '?')}, "
            f"model {fields.get('model', '?')}, {'AVX-512' if avx512 else 'no AVX-512'})")
