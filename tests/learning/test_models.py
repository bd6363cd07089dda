"""grasp_learning networks: shapes, the inference form, ONNX export and its agreement with torch."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from torch import nn

from grasp_core.bench import run_bench
from grasp_core.metadata import METADATA_KEY, ModelMetadata
from grasp_core.serving import INPUT_NAME, OUTPUT_NAMES, GraspPredictor
from grasp_learning.bench import load_onnx_weights
from grasp_learning.export import export_onnx, metadata_for
from grasp_learning.flops import count_flops
from grasp_learning.inference_form import inference_form
from grasp_learning.models import build_model, hyperparameters_of

SIZE = 64
SMALL = {
    "grconvnet": {"channels": 8, "residual_blocks": 2},
    "ggcnn2": {"filters": (8, 8, 16), "in_channels": 4},
}


def _randomise_batch_norm(model: nn.Module, seed: int = 0) -> nn.Module:
    """Non-trivial running statistics, so folding them is actually exercised."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.rand(n, generator=g) - 0.5)
            m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            m.bias.data.copy_(torch.rand(n, generator=g) - 0.5)
    return model.eval()


@pytest.mark.parametrize("architecture", list(SMALL))
@pytest.mark.parametrize("bins", [1, 3])
def test_output_maps_have_one_channel_per_angle_bin(architecture: str, bins: int) -> None:
    model = build_model(architecture, angle_bins=bins, **SMALL[architecture]).eval()
    x = torch.zeros(2, model.config.in_channels, SIZE, 2 * SIZE)
    outputs = model(x)
    assert len(outputs) == len(OUTPUT_NAMES)
    assert all(o.shape == (2, bins, SIZE, 2 * SIZE) for o in outputs)


def test_build_model_names_unknown_architecture_and_hyperparameter() -> None:
    with pytest.raises(ValueError, match="grconvnet"):
        build_model("resnet")
    with pytest.raises(ValueError, match="chanels"):
        build_model("grconvnet", chanels=16)


def test_hyperparameters_rebuild_the_same_network() -> None:
    model = build_model("ggcnn2", filters=(8, 8, 16))
    # Through JSON, as in the ONNX metadata: tuples come back as lists.
    again = build_model("ggcnn2", **json.loads(json.dumps(hyperparameters_of(model))))
    assert again.config == model.config


@pytest.mark.parametrize("architecture", list(SMALL))
def test_inference_form_computes_the_same_maps(architecture: str) -> None:
    torch.manual_seed(0)
    model = _randomise_batch_norm(build_model(architecture, **SMALL[architecture]))
    folded = inference_form(model)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == (
        architecture == "grconvnet"
    )
    x = torch.randn(2, model.config.in_channels, SIZE, SIZE)
    with torch.no_grad():
        for a, b in zip(model(x), folded(x), strict=True):
            torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5)


def test_count_flops_matches_hand_count() -> None:
    net = nn.Sequential(
        nn.Conv2d(4, 8, 3, padding=1),  # 10x10 out: 100 px * 8 * 4*9 MACs
        nn.ConvTranspose2d(8, 2, 4, stride=2, padding=1),  # 100 in px * 8 * 2*16 MACs
    )
    expected = 2 * (100 * 8 * 36 + 100 * 8 * 32)
    assert count_flops(net, (1, 4, 10, 10)) == expected


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> tuple[nn.Module, ModelMetadata, object]:
    torch.manual_seed(1)
    model = _randomise_batch_norm(build_model("grconvnet", angle_bins=3, **SMALL["grconvnet"]))
    meta = metadata_for(model, "grconvnet", input_size=(SIZE, SIZE), width_scale=80.0)
    path = export_onnx(model, meta, tmp_path_factory.mktemp("export") / "net.onnx")
    return model, meta, path


def test_export_names_io_and_stores_metadata(exported) -> None:
    _, meta, path = exported
    graph = onnx.load(str(path))
    assert [i.name for i in graph.graph.input] == [INPUT_NAME]
    assert [o.name for o in graph.graph.output] == list(OUTPUT_NAMES)
    props = {p.key: p.value for p in graph.metadata_props}
    assert ModelMetadata.from_json(props[METADATA_KEY]) == meta
    assert meta.modality == "rgbd" and meta.angle_bins == 3


def test_onnx_runtime_agrees_with_torch_at_any_batch(exported) -> None:
    model, _, path = exported
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for batch in (1, 3):
        x = torch.randn(batch, 4, SIZE, SIZE, generator=torch.Generator().manual_seed(batch))
        with torch.no_grad():
            expected = [t.numpy() for t in model(x)]
        got = session.run(list(OUTPUT_NAMES), {INPUT_NAME: x.numpy()})
        for name, e, g in zip(OUTPUT_NAMES, expected, got, strict=True):
            np.testing.assert_allclose(g, e, rtol=1e-4, atol=1e-4, err_msg=name)


def test_predictor_serves_the_export(exported) -> None:
    _, meta, path = exported
    predictor = GraspPredictor(path, providers=["cpu"])
    assert predictor.metadata == meta
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)
    depth = rng.integers(500, 800, (120, 160), dtype=np.uint16)
    prediction = predictor.predict(rgb, depth)
    assert prediction.maps.quality.shape == (SIZE, SIZE)


def test_metadata_must_agree_with_the_network(tmp_path) -> None:
    model = build_model("grconvnet", **SMALL["grconvnet"])
    depth_only = ModelMetadata("grconvnet", (SIZE, SIZE), modality="depth")
    with pytest.raises(ValueError, match="1 input channels"):
        export_onnx(model, depth_only, tmp_path / "x.onnx")
    three_bins = ModelMetadata("grconvnet", (SIZE, SIZE), angle_bins=3)
    with pytest.raises(ValueError, match="3 angle bins"):
        export_onnx(model, three_bins, tmp_path / "x.onnx")
    assert not (tmp_path / "x.onnx").exists()


def test_torch_bench_runs_the_file_weights(exported) -> None:
    model, meta, path = exported
    rebuilt = load_onnx_weights(path, meta)
    x = torch.randn(1, 4, SIZE, SIZE)
    with torch.no_grad():
        for a, b in zip(model(x), rebuilt(x), strict=True):
            torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5)


def test_untrained_export_loads_despite_merged_zero_biases(tmp_path) -> None:
    # Untrained batch norm folds into all-zero biases, which the exporter stores once.
    model = build_model("grconvnet", **SMALL["grconvnet"]).eval()
    meta = metadata_for(model, "grconvnet", input_size=(SIZE, SIZE))
    path = export_onnx(model, meta, tmp_path / "untrained.onnx")
    rebuilt = load_onnx_weights(path, meta)
    x = torch.randn(1, 4, SIZE, SIZE)
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(x)[0], model(x)[0], rtol=1e-4, atol=1e-5)


def test_bench_reports_every_runtime_and_the_floor(exported) -> None:
    _, _, path = exported
    result = run_bench(path, runs=3, threads=1)
    assert result["input"] == [1, 4, SIZE, SIZE]
    assert set(result["median_ms"]) >= {"onnxruntime-CPUExecutionProvider", "torch-eager-cpu"}
    assert all(ms > 0 for ms in result["median_ms"].values())
    model = build_model("grconvnet", angle_bins=3, **SMALL["grconvnet"])
    assert result["gflops"] == pytest.approx(count_flops(model, (1, 4, SIZE, SIZE)) / 1e9, abs=1e-3)
    assert result["cpu_floor_ms"] == pytest.approx(
        result["gflops"] / result["cpu_peak_gflops"] * 1e3, rel=0.01
    )
