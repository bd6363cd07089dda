"""Latency benchmark of a served model: ONNX Runtime per provider, torch eager, FLOP floor.

`grasp bench` and `make bench` print these figures; speed targets live here, not in tests.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime as ort

from grasp_core.metadata import ModelMetadata
from grasp_core.serving import (
    INPUT_NAME,
    GraspPredictor,
    InstancePredictor,
    choose_providers,
    open_predictor,
)  # fmt: skip


def median_ms(run: Callable[[], object], runs: int, warmup: int = 10) -> float:
    """Median wall time of ``run()`` in ms over ``runs`` calls, after ``warmup`` calls."""
    for _ in range(warmup):
        run()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def _cpuinfo() -> dict[str, str]:
    info: dict[str, str] = {}
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return info
    for line in text.splitlines():
        key, _, value = line.partition(":")
        info.setdefault(key.strip(), value.strip())
    return info


def cpu_description(threads: int) -> str:
    """CPU model name and the number of threads used, e.g. 'AMD EPYC, 2 threads'."""
    name = _cpuinfo().get("model name") or platform.processor() or platform.machine()
    return f"{name}, {threads} thread{'s' if threads != 1 else ''}"


def cpu_peak_gflops(threads: int) -> float | None:
    """Theoretical fp32 peak, GFLOP/s, of ``threads`` cores: GHz x FLOP/cycle x cores.

    FLOP/cycle per core: 32 with AVX2 + FMA (two 256-bit FMA pipes), 64 with AVX-512 on
    Intel server cores (two 512-bit pipes); AMD's AVX-512 runs on 256-bit pipes, so 32.
    The clock is the one /proc/cpuinfo reports (the base clock on virtual machines, where
    a large single-precision GEMM in OpenBLAS was measured at 89 % of this figure).
    None when /proc/cpuinfo does not say.
    """
    info = _cpuinfo()
    flags = set(info.get("flags", "").split())
    try:
        ghz = float(info["cpu MHz"]) / 1e3
    except (KeyError, ValueError):
        return None
    if "fma" not in flags:
        return None
    wide = "avx512f" in flags and info.get("vendor_id") == "GenuineIntel"
    return ghz * (64 if wide else 32) * threads


def onnxruntime_medians(
    model: str | Path, runs: int, threads: int | None
) -> tuple[GraspPredictor | InstancePredictor, dict[str, float]]:
    """Median inference ms for each provider this onnxruntime build can actually run.

    A provider that fails to initialise is reported as skipped rather than timed, since the
    session would silently run on the next one.
    """
    medians: dict[str, float] = {}
    predictor = None
    for provider in choose_providers(available=ort.get_available_providers()):
        candidate = open_predictor(model, providers=[provider], threads=threads, warmup_runs=0)
        if candidate.providers[0] != provider:
            continue
        medians[f"onnxruntime-{provider}"] = median_ms(candidate.infer, runs)
        if provider in GPU_PROVIDERS:
            medians[f"onnxruntime-{provider}-device-io"] = device_io_median(candidate, runs)
        predictor = predictor or candidate
    return predictor, medians


GPU_PROVIDERS = ("CUDAExecutionProvider", "TensorrtExecutionProvider")


def device_io_median(predictor: GraspPredictor | InstancePredictor, runs: int) -> float:
    """Median ms with the input and the maps resident on GPU 0: the network alone.

    The served path (predictor.infer) binds host buffers, so its figure includes the
    host <-> device copies a node pays per frame; this one isolates what the GPU does.
    """
    meta = predictor.metadata
    session = predictor.session
    binding = session.io_binding()
    frame = np.zeros((1, meta.channels, *meta.input_size), np.float32)
    binding.bind_ortvalue_input(INPUT_NAME, ort.OrtValue.ortvalue_from_numpy(frame, "cuda", 0))
    for output in session.get_outputs():
        binding.bind_output(output.name, "cuda", 0)
    return median_ms(lambda: session.run_with_iobinding(binding), runs)


def run_bench(model: str | Path, runs: int = 100, threads: int | None = None) -> dict:
    """All figures for one model; see the module docstring. threads: CPU threads for both
    ONNX Runtime and torch (default: every core)."""
    threads = threads or os.cpu_count() or 1
    predictor, medians = onnxruntime_medians(model, runs, threads)
    meta = predictor.metadata
    shape = [1, meta.channels, *meta.input_size]
    result: dict = {
        "model": str(model),
        "device": cpu_description(threads),
        "input": shape,
        "median_ms": medians,
    }
    torch_result = torch_figures(model, meta, runs, threads)
    medians.update(torch_result.pop("median_ms", {}))
    result.update(torch_result)
    peak = cpu_peak_gflops(threads)
    if peak and "gflops" in result:
        result["cpu_peak_gflops"] = round(peak, 1)
        result["cpu_floor_ms"] = round(result["gflops"] / peak * 1e3, 2)
    result["table"] = format_table(result)
    return result


def format_table(result: dict) -> str:
    """A plain-text table of the figures of run_bench."""
    lines = [
        f"model  {result['model']}",
        f"device {result['device']}",
        f"input  {result['input']} (batch, channels, height, width)",
    ]
    if "gflops" in result:
        lines.append(f"work   {result['gflops']:.2f} GFLOP per frame")
    if "cpu_floor_ms" in result:
        lines.append(
            f"floor  {result['cpu_floor_ms']:.1f} ms on the CPU "
            f"(fp32 peak {result['cpu_peak_gflops']:.0f} GFLOP/s)"
        )
    lines.append(f"{'runtime':45s} median ms")
    lines += [f"{name:45s} {ms:9.2f}" for name, ms in result["median_ms"].items()]
    return "\n".join(lines)


def torch_figures(model: str | Path, metadata: ModelMetadata, runs: int, threads: int) -> dict:
    """torch eager medians on the ONNX file's own weights and the network's GFLOPs; empty when
    the training extra (torch, grasp_learning) is not installed, as on a robot."""
    try:
        from grasp_learning.bench import torch_eager_figures
    except ImportError:
        return {}
    return torch_eager_figures(model, metadata, runs, threads)
