"""`grasp train` on a tiny dataset: the loss falls, runs resume, the export serves."""

from __future__ import annotations

import csv
import json
import math
import multiprocessing
from pathlib import Path

import numpy as np
import pytest
import torch

from grasp_core.datasets import Sample
from grasp_core.datasets.generated import sample_name, write_info, write_sample
from grasp_core.grasp import ImageGrasp
from grasp_core.serving import GraspPredictor, ModelFileError
from grasp_learning.augment import NO_AUGMENTATION
from grasp_learning.train import SELECTION_KEY, TrainConfig, train


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> Path:
    """Six 96x128 images of one raised bar with its grasp across the bar's middle."""
    root = tmp_path_factory.mktemp("tiny")
    write_info(root, {"classes": ["bar"]})
    rng = np.random.default_rng(0)
    for i in range(6):
        u, v = rng.uniform(40, 88), rng.uniform(30, 66)
        depth = np.full((96, 128), 0.7, np.float32)
        depth[int(v) - 4 : int(v) + 5, int(u) - 15 : int(u) + 16] = 0.65
        rgb = np.zeros((96, 128, 3), np.uint8)
        rgb[depth < 0.7] = (200, 80, 40)
        grasp = ImageGrasp(u, v, math.pi / 2, 14, 8, instance_id=1, label="bar")
        sample = Sample(
            sample_name(i), rgb, depth, (grasp,), (depth < 0.7).astype(np.int32), {1: "bar"}
        )
        write_sample(root, sample, {})
    return root


def _config(**kw) -> TrainConfig:
    defaults = dict(
        architecture="ggcnn2",
        hyperparameters={"angle_bins": 3},
        input_size=(64, 64),
        epochs=6,
        batch_size=3,
        lr=3e-3,
        workers=0,
        device="cpu",
        val_fraction=0.34,
        augmentation=NO_AUGMENTATION,
    )
    return TrainConfig(**{**defaults, **kw})


def test_training_lowers_the_loss_and_exports_a_servable_model(tiny_data, tmp_path) -> None:
    summary = train(_config(), str(tiny_data), tmp_path)
    with (tmp_path / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 6
    losses = [float(r["train_loss"]) for r in rows]
    assert losses[-1] < 0.7 * losses[0]
    assert {"val_loss", SELECTION_KEY, "iou_avg"} <= set(rows[0])
    assert (tmp_path / "curves.png").stat().st_size > 0
    predictor = GraspPredictor(summary["onnx"])
    assert predictor.metadata.architecture == "ggcnn2" and predictor.metadata.angle_bins == 3
    assert predictor.metadata.input_size == (64, 64)
    assert json.loads((tmp_path / "summary.json").read_text())["epochs"] == 6


def test_training_resumes_from_its_checkpoint(tiny_data, tmp_path) -> None:
    train(_config(epochs=2), str(tiny_data), tmp_path)
    summary = train(_config(epochs=3), str(tiny_data), tmp_path)
    with (tmp_path / "metrics.csv").open() as f:
        epochs = [int(r["epoch"]) for r in csv.DictReader(f)]
    assert epochs == [1, 2, 3]  # the third epoch ran on top of the first two
    assert summary["epochs"] == 3


def test_a_time_budget_ends_the_run_and_its_schedule_early(tiny_data, tmp_path) -> None:
    # A budget smaller than one epoch leaves room for that first epoch only.
    summary = train(_config(epochs=50, max_minutes=1e-6), str(tiny_data), tmp_path)
    with (tmp_path / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 1 and summary["epochs"] == 1
    assert (tmp_path / "model.onnx").is_file()


def test_fit_to_budget_keeps_the_epochs_that_fit_and_shortens_the_schedule() -> None:
    import torch

    from grasp_learning.train import fit_to_budget

    optimiser = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=100)
    config = _config(epochs=100, max_minutes=10)
    # 600 s budget, 100 s gone after one 60 s epoch: 8 more epochs fit.
    assert fit_to_budget(config, scheduler, 1, 60.0, 100.0) == 9
    assert scheduler.T_max == 9
    roomy = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=100)
    assert fit_to_budget(_config(epochs=5, max_minutes=10), roomy, 1, 1.0, 1.0) == 5
    assert roomy.T_max == 100


def test_grconvnet_trains_on_rgbd(tiny_data, tmp_path) -> None:
    config = _config(
        architecture="grconvnet", hyperparameters={"angle_bins": 3, "channels": 8}, epochs=1
    )
    summary = train(config, str(tiny_data), tmp_path)
    assert GraspPredictor(summary["onnx"]).metadata.modality == "rgbd"


def test_the_train_command_trains_and_refuses_bad_requests(tiny_data, tmp_path, capsys) -> None:
    from grasp_core.cli import main

    out = tmp_path / "run"
    args = ["train", "--model", "ggcnn2", "--data", str(tiny_data), "--out", str(out)]
    assert (
        main([*args, "--epochs", "1", "--input-size", "64", "--workers", "0", "--batch-size", "8"])
        == 0
    )
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert Path(summary["onnx"]).is_file()
    assert main([*args, "--channels", "8"]) == 2
    assert "--channels" in capsys.readouterr().err
    assert main(["train", "--data", str(tmp_path / "missing"), "--out", str(out)]) == 2
    assert "not a folder" in capsys.readouterr().err


def test_fine_tuning_starts_from_another_runs_weights(tiny_data, tmp_path) -> None:
    train(_config(epochs=2), str(tiny_data), tmp_path / "first")
    start = torch.load(tmp_path / "first" / "best.pt", weights_only=False)["model"]
    # A learning rate of 0 leaves the weights where they start.
    train(_config(epochs=1, lr=0.0, init=str(tmp_path / "first" / "best.pt")), str(tiny_data),
          tmp_path / "tuned")  # fmt: skip
    tuned = torch.load(tmp_path / "tuned" / "last.pt", weights_only=False)["model"]
    assert all(torch.equal(start[name], tuned[name]) for name in start)
    # Without it the same run keeps its own (seeded) initial weights.
    train(_config(epochs=1, lr=0.0), str(tiny_data), tmp_path / "fresh")
    fresh = torch.load(tmp_path / "fresh" / "last.pt", weights_only=False)["model"]
    assert not all(torch.equal(start[name], fresh[name]) for name in start)


def test_fine_tuning_refuses_a_missing_or_foreign_checkpoint(tiny_data, tmp_path) -> None:
    with pytest.raises(ModelFileError, match="is not a file"):
        train(_config(init=str(tmp_path / "none.pt")), str(tiny_data), tmp_path / "a")
    train(_config(epochs=1), str(tiny_data), tmp_path / "ggcnn")
    other = _config(architecture="grconvnet", init=str(tmp_path / "ggcnn" / "best.pt"))
    with pytest.raises(ModelFileError, match="no weights of this network"):
        train(other, str(tiny_data), tmp_path / "b")


def test_persistent_loader_workers_draw_each_epochs_shuffle_and_augmentation(tiny_data) -> None:
    from torch.utils.data import DataLoader

    from grasp_core.datasets import open_dataset
    from grasp_learning.augment import Augmentation
    from grasp_learning.export import metadata_for
    from grasp_learning.models import build_model
    from grasp_learning.train import EpochSampler, MapDataset, worker_processes

    config = _config()
    model = build_model("ggcnn2", **config.hyperparameters)
    metadata = metadata_for(model, "ggcnn2", input_size=config.input_size)
    maps = MapDataset(open_dataset(str(tiny_data)), metadata, Augmentation(), seed=0)
    sampler = EpochSampler(len(maps), seed=0)
    loader = DataLoader(maps, batch_size=1, sampler=sampler, num_workers=1, persistent_workers=True)
    drawn = {}
    before = set(multiprocessing.active_children())
    with worker_processes(loader):
        for epoch in (0, 1):
            sampler.epoch = epoch
            keys = list(sampler)
            assert sorted(index for _, index in keys) == list(range(len(maps)))
            assert all(e == epoch for e, _ in keys)
            # The loader's worker started in epoch 0 and is reused: what it returns must
            # still be each key's own augmented example, computed here from the key.
            for key, (x, _) in zip(keys, loader, strict=True):
                assert torch.equal(x[0], maps[key][0])
                drawn[key] = x[0]
    assert set(multiprocessing.active_children()) == before  # its worker has ended
    assert [i for _, i in EpochSampler(len(maps), 0)] != [i for _, i in keys]
    assert not any(torch.equal(drawn[(0, i)], drawn[(1, i)]) for i in range(len(maps)))


def test_training_with_loader_workers_runs_every_epoch_and_ends_them(tiny_data, tmp_path) -> None:
    before = set(multiprocessing.active_children())
    summary = train(_config(epochs=2, workers=2), str(tiny_data), tmp_path)
    assert summary["epochs"] == 2
    # Ended by train itself, not by a later garbage collection on another thread.
    assert set(multiprocessing.active_children()) == before
