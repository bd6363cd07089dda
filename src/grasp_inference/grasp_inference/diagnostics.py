"""The /diagnostics message of a node that works frame by frame (inference, transform): its
rolling time medians (ms) and its frame counters under one status."""

from __future__ import annotations

from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

from grasp_inference.frames import LatencyStats


def diagnostics_msg(
    name: str, level: bytes, message: str, stats: LatencyStats, counts: dict[str, int], stamp: Time
) -> DiagnosticArray:
    """One DiagnosticStatus ``name`` (level: DiagnosticStatus.OK, WARN, ...) whose values are
    each '<time> median' of ``stats`` (ms, 2 decimals) and each of ``counts``."""
    values = {f"{k} median": f"{v:.2f}" for k, v in stats.medians().items()}
    values |= {k: str(v) for k, v in counts.items()}
    status = DiagnosticStatus(level=level, name=name, message=message)
    status.values = [KeyValue(key=k, value=v) for k, v in values.items()]
    array = DiagnosticArray(status=[status])
    array.header.stamp = stamp
    return array
