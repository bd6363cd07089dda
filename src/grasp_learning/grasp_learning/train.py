"""`grasp train`: GR-ConvNet / GG-CNN2 with the recipe of 004_b952421ab3ddfc5d.txt, and SSG.

Strong Gaussian quality maps (eq. 7), N angle bins, the positional loss (eq. 9) and the
smallest-width rule come from grasp_learning.targets; rotation / zoom / crop augmentation
from grasp_learning.augment. Every epoch writes a checkpoint (training resumes from it), a
row of metrics.csv and the loss / accuracy plots; the best epoch on the validation images
(rectangle metric at IoU 0.25, 30 deg) is exported to ONNX with its metadata.

SSG (000_82e8763e29e0cd96.txt) runs through the same loop with its own targets
(grasp_learning.ssg_targets), loss (eq. 1) and validation: its best epoch is the one with
the best instance-wise rectangle metric (the grasp's class must match too).
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from grasp_core.datasets import Dataset, open_dataset, split
from grasp_core.grasp import ImageGrasp
from grasp_core.instances import InstanceParams, decode_instances, make_anchors
from grasp_core.metadata import MODALITIES, ModelMetadata
from grasp_core.metrics import accuracy_key, evaluate
from grasp_core.postprocess import PostprocessParams, decode_maps, grasps_from_maps
from grasp_core.serving import ModelFileError
from grasp_learning.augment import NO_AUGMENTATION, Augmentation, training_pair
from grasp_learning.bench import fill_from_onnx
from grasp_learning.export import export_onnx, exported_module, metadata_for
from grasp_learning.inference_form import inference_form
from grasp_learning.models import build_model
from grasp_learning.ssg import ssg_loss
from grasp_learning.ssg_targets import SSGDataset, ssg_example
from grasp_learning.targets import positional_loss

SELECTION_KEY = accuracy_key(0.25, 30)
MODALITY = {"grconvnet": "rgbd", "ggcnn2": "depth", "ssg": "rgbd"}


@dataclass(frozen=True)
class TrainConfig:
    """architecture: 'grconvnet', 'ggcnn2' or 'ssg'. hyperparameters: the network's Config fields
    (angle_bins included). input_size: (height, width) px. epochs, batch_size, lr (Adam),
    batches_per_epoch (None: the whole training split). val_fraction: share of the data
    held out for model selection when no val_data is given. device: 'cpu', 'cuda' or
    'auto'. workers: data-loading processes. positive_weight: extra weight of the quality
    error on grasp pixels (grasp_learning.targets.positional_loss; not used by SSG).
    max_minutes: time budget of this run; after its first epoch the run shortens itself to
    the epochs that fit, and the cosine schedule is fitted to that length (None: no limit).
    init: a checkpoint (best.pt or last.pt of a run of the same network) or a model file
    this project exported (.onnx) whose weights a new run starts from, to fine-tune; its
    optimiser and schedule start afresh. An exported file holds the inference form (batch
    norm folded into the convolutions), so such a run trains that form, without batch norm.
    A run that resumes from its own checkpoint ignores it."""

    architecture: str = "grconvnet"
    hyperparameters: dict[str, Any] = field(default_factory=lambda: {"angle_bins": 3})
    input_size: tuple[int, int] = (224, 224)
    epochs: int = 30
    batch_size: int = 8
    lr: float = 1e-3
    batches_per_epoch: int | None = None
    val_fraction: float = 0.1
    seed: int = 0
    device: str = "auto"
    workers: int = 1
    augmentation: Augmentation = field(default_factory=Augmentation)
    positive_weight: float = 0.0
    max_minutes: float | None = None
    init: str | None = None


class MapDataset(torch.utils.data.Dataset):
    """Network inputs and stacked target maps of a dataset, augmented on the fly; keyed by
    (epoch, index) as EpochSampler draws them."""

    def __init__(
        self, data: Dataset, metadata: ModelMetadata, augmentation: Augmentation, seed: int
    ):
        self.data, self.metadata, self.augmentation, self.seed = data, metadata, augmentation, seed

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, key: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        epoch, index = key
        rng = np.random.default_rng([self.seed, epoch, index])
        x, maps, _ = training_pair(self.data[index], self.metadata, rng, self.augmentation)
        return torch.from_numpy(x), torch.from_numpy(maps.stacked())


class EpochSampler(torch.utils.data.Sampler):
    """Keys (epoch, index) over a training set, shuffled anew each epoch from the run's seed.

    The datasets seed each example's augmentation with its epoch. Persistent loader workers
    hold their own copy of the dataset, so an epoch set on it after they started would not
    reach them; carried in the key, it does."""

    def __init__(self, size: int, seed: int):
        self.size, self.seed, self.epoch = size, seed, 0

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[tuple[int, int]]:
        shuffle = torch.Generator().manual_seed(self.seed + self.epoch)
        order = torch.randperm(self.size, generator=shuffle)
        return iter([(self.epoch, int(i)) for i in order])


@contextmanager
def worker_processes(loader: DataLoader) -> Iterator[DataLoader]:
    """Ends the loader's persistent worker processes when the block ends.

    Left to the garbage collector (a traceback caught inside torch or matplotlib keeps the
    training frame, and with it the loader, in a reference cycle), their shutdown runs later
    on whichever thread of the process triggers the collection, and there it waits 5 s for
    each worker, whose queues the collection may already have torn down."""
    try:
        yield loader
    finally:
        # torch keeps persistent workers in the loader's iterator and has no public way to end
        # them; this is what the iterator's own __del__ calls.
        if loader._iterator is not None:
            loader._iterator._shutdown_workers()
            loader._iterator = None


def _device(name: str) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def validation_examples(
    data: Dataset, metadata: ModelMetadata, instance_wise: bool
) -> list[tuple[np.ndarray, Any, list[ImageGrasp]]]:
    """Each validation sample's network input, training targets (stacked maps, or SSG's
    target dict) and grasps in input px, without augmentation: built once per run, since
    they do not change between epochs."""
    anchors = make_anchors(metadata.input_size, metadata.anchors) if instance_wise else None
    rng = np.random.default_rng(0)
    examples = []
    for sample in tqdm(data, desc="validation images", leave=False):
        if instance_wise:
            examples.append(ssg_example(sample, metadata, rng, NO_AUGMENTATION, anchors))
        else:
            x, maps, grasps = training_pair(sample, metadata, rng, NO_AUGMENTATION)
            examples.append((x, maps.stacked(), grasps))
    return examples


def validate(
    model: torch.nn.Module,
    examples: list[tuple[np.ndarray, np.ndarray, list[ImageGrasp]]],
    metadata: ModelMetadata,
    device: torch.device,
    loss_fn: Callable[..., tuple[torch.Tensor, dict[str, float]]],
) -> dict[str, float]:
    """Loss (``loss_fn``, the training loss) and rectangle-metric scores of ``model`` on
    validation_examples."""
    model.eval()
    params = PostprocessParams(max_grasps=1, threshold=0.0)
    predictions, losses = [], []
    with torch.no_grad():
        for x, maps, _ in examples:
            out = model(torch.from_numpy(x)[None].to(device))
            loss, _ = loss_fn(out, torch.from_numpy(maps)[None].to(device))
            losses.append(loss.item())
            q, c, s, w = (o[0].float().cpu().numpy() for o in out)
            predictions.append(grasps_from_maps(decode_maps(q, c, s, w, metadata, params), params))
    result = evaluate(predictions, [grasps for *_, grasps in examples])
    return {
        "val_loss": float(np.mean(losses)),
        SELECTION_KEY: result.accuracy[SELECTION_KEY],
        "iou_avg": result.iou_avg,
    }


def validate_instances(
    model: torch.nn.Module,
    examples: list[tuple[np.ndarray, dict[str, np.ndarray], list[ImageGrasp]]],
    metadata: ModelMetadata,
    device: torch.device,
    loss_fn: Callable[..., tuple[torch.Tensor, dict[str, float]]],
) -> dict[str, float]:
    """validate for SSG: its loss (eq. 1) and the instance-wise rectangle metric of the top
    grasp per image, decoded as serving decodes it (grasp_core.instances)."""
    model.eval()
    anchors = make_anchors(metadata.input_size, metadata.anchors)
    params = InstanceParams()
    predictions, losses = [], []
    with torch.no_grad():
        for x, targets, _ in examples:
            out = model(torch.from_numpy(x)[None].to(device))
            batch = {k: torch.from_numpy(v)[None].to(device) for k, v in targets.items()}
            losses.append(loss_fn(_as_float(out), batch)[0].item())
            outputs = {
                "scores": out["logits"][0].float().softmax(-1),
                **{k: out[k][0].float() for k in ("boxes", "coefficients", "prototypes")},
            }
            outputs = {k: v.cpu().numpy() for k, v in outputs.items()}
            predictions.append(decode_instances(outputs, metadata, anchors, params)[1])
    result = evaluate(predictions, [grasps for *_, grasps in examples], instance_wise=True)
    return {
        "val_loss": float(np.mean(losses)),
        SELECTION_KEY: result.accuracy[SELECTION_KEY],
        "iou_avg": result.iou_avg,
    }


def _as_float(predicted: Any) -> Any:
    """Network outputs (a tuple or dict of tensors) in float32, for the loss under AMP."""
    if isinstance(predicted, dict):
        return {k: v.float() for k, v in predicted.items()}
    return [p.float() for p in predicted]


def _to(target: Any, device: torch.device) -> Any:
    if isinstance(target, dict):
        return {k: v.to(device, non_blocking=True) for k, v in target.items()}
    return target.to(device, non_blocking=True)


def _plot(rows: list[dict[str, float]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [r["epoch"] for r in rows]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    a.plot(epochs, [r["train_loss"] for r in rows], label="train")
    a.plot(epochs, [r["val_loss"] for r in rows], label="validation")
    a.set(xlabel="epoch", ylabel="loss (004 eq. 9)", yscale="log")
    a.legend()
    b.plot(epochs, [r[SELECTION_KEY] for r in rows], label="rectangle metric (IoU 0.25, 30°)")
    b.plot(epochs, [r["iou_avg"] for r in rows], label="IoU-Avg")
    b.set(xlabel="epoch", ylim=(0, 1))
    b.legend()
    fig.tight_layout()
    fig.savefig(out / "curves.png", dpi=100)
    plt.close(fig)


def fit_to_budget(
    config: TrainConfig,
    scheduler: torch.optim.lr_scheduler.CosineAnnealingLR,
    epoch: int,
    epoch_s: float,
    elapsed_s: float,
) -> int:
    """The epoch to stop at so that the run ends within config.max_minutes, given one
    epoch's time; the cosine schedule is shortened to end there too."""
    left = config.max_minutes * 60 - elapsed_s
    end = min(config.epochs, epoch + max(0, int(left // epoch_s)))
    if end < config.epochs:
        scheduler.T_max = max(end, 1)
        print(f"{config.max_minutes} min allow {end} of {config.epochs} epochs", flush=True)
    return end


def _from_export(config: TrainConfig) -> bool:
    return bool(config.init) and Path(config.init).suffix == ".onnx"


def _network(config: TrainConfig, hyper: dict[str, Any]) -> torch.nn.Module:
    """The network a run trains: as built, or in inference form when it fine-tunes an
    exported file (see TrainConfig.init)."""
    model = build_model(config.architecture, **hyper)
    return inference_form(model).train() if _from_export(config) else model


def _load_weights(model: torch.nn.Module, path: Path, metadata: ModelMetadata) -> None:
    """The network weights of a checkpoint of this project's training, or of a model file
    it exported, into ``model``."""
    if not path.is_file():
        raise ModelFileError(f"--init {path} is not a file: pass a run's best.pt or last.pt")
    if path.suffix == ".onnx":
        try:
            fill_from_onnx(exported_module(model)[0], path, metadata)
        except ValueError as err:
            raise ModelFileError(f"--init {path} holds no weights of this network: {err}") from None
        return
    state = torch.load(path, map_location="cpu", weights_only=False)
    try:
        model.load_state_dict(state["model"])
    except (KeyError, TypeError, RuntimeError) as err:
        raise ModelFileError(f"--init {path} holds no weights of this network: {err}") from None


def train(
    config: TrainConfig, data: str, out: Path, val_data: str | None = None, resume: bool = True
) -> dict[str, Any]:
    """Train on ``data`` (a --data spec) into ``out``; returns the best epoch's metrics."""
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config.seed)
    device = _device(config.device)
    dataset = open_dataset(data)
    if val_data:
        train_set, val_set = dataset, open_dataset(val_data)
    else:
        train_set = split(dataset, "train", config.val_fraction)
        val_set = split(dataset, "test", config.val_fraction)
    instance_wise = config.architecture == "ssg"
    hyper = {
        "in_channels": MODALITIES[MODALITY[config.architecture]],
        **config.hyperparameters,
    }
    classes = dataset.classes if instance_wise else ()
    if instance_wise:
        if not classes:
            raise ValueError(f"{data} names no classes; SSG learns the object classes")
        hyper["classes"] = len(classes)
    model = _network(config, hyper).to(device)
    metadata = metadata_for(
        model, config.architecture, input_size=tuple(config.input_size), classes=classes
    )
    optimiser = torch.optim.Adam(model.parameters(), lr=config.lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=config.epochs)
    amp = device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    # GR-ConvNet's own loss is smooth L1, GG-CNN2's is MSE (004, sec. IV-D).
    loss_fn = (
        ssg_loss
        if instance_wise
        else partial(
            positional_loss,
            smooth_l1=config.architecture == "grconvnet",
            positive_weight=config.positive_weight,
        )
    )
    check = validate_instances if instance_wise else validate

    rows: list[dict[str, float]] = []
    start_epoch, best = 0, -1.0
    checkpoint = out / "last.pt"
    if resume and checkpoint.is_file():
        state = torch.load(checkpoint, map_location=device, weights_only=False)
        model.load_state_dict(state["model"])
        optimiser.load_state_dict(state["optimiser"])
        scheduler.load_state_dict(state["scheduler"])
        start_epoch, best, rows = state["epoch"] + 1, state["best"], state["rows"]
        print(f"resuming {out} at epoch {start_epoch + 1}")
    elif config.init:
        _load_weights(model, Path(config.init), metadata)
        print(f"starting from the weights of {config.init}")
    (out / "config.json").write_text(
        json.dumps({"data": data, "val_data": val_data, **asdict(config)}, indent=1)
    )

    examples = SSGDataset if instance_wise else MapDataset
    maps = examples(train_set, metadata, config.augmentation, config.seed)
    sampler = EpochSampler(len(maps), config.seed)
    loader = DataLoader(
        maps,
        batch_size=config.batch_size,
        sampler=sampler,
        num_workers=config.workers,
        # A short last batch skews the loss, unless it is the only batch there is.
        drop_last=len(maps) > config.batch_size,
        persistent_workers=config.workers > 0,
    )
    val_examples = validation_examples(val_set, metadata, instance_wise)
    run_started, end_epoch, epoch = time.perf_counter(), config.epochs, start_epoch
    with worker_processes(loader):
        while epoch < end_epoch:
            sampler.epoch = epoch
            limit = config.batches_per_epoch or len(loader)
            model.train()
            started, losses = time.perf_counter(), []
            bar = tqdm(
                loader,
                total=min(limit, len(loader)),
                desc=f"epoch {epoch + 1}/{end_epoch}",
                leave=False,
            )
            for step, (x, target) in enumerate(bar):
                if step >= limit:
                    break
                x, target = x.to(device), _to(target, device)
                with torch.autocast(device.type, enabled=amp):
                    predicted = model(x)
                loss, _ = loss_fn(_as_float(predicted), target)
                optimiser.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(optimiser)
                scaler.update()
                losses.append(loss.item())
                bar.set_postfix(loss=f"{np.mean(losses[-20:]):.4f}")
            scheduler.step()
            row = {
                "epoch": epoch + 1,
                "train_loss": float(np.mean(losses)),
                "lr": scheduler.get_last_lr()[0],
            }
            row.update(check(model, val_examples, metadata, device, loss_fn))
            row["seconds"] = time.perf_counter() - started
            rows.append(row)
            improved = row[SELECTION_KEY] > best
            if improved:
                best = row[SELECTION_KEY]
                torch.save(
                    {"model": model.state_dict(), "metadata": metadata.to_json(), "row": row},
                    out / "best.pt",
                )
            state = {
                "model": model.state_dict(),
                "optimiser": optimiser.state_dict(),
                "scheduler": scheduler.state_dict(),
                "epoch": epoch,
                "best": best,
                "rows": rows,
            }
            torch.save(state, checkpoint)
            _write_csv(rows, out / "metrics.csv")
            _plot(rows, out)
            print(
                f"epoch {epoch + 1}: train {row['train_loss']:.4f}  val {row['val_loss']:.4f}  "
                f"{SELECTION_KEY} {row[SELECTION_KEY]:.3f}  iou_avg {row['iou_avg']:.3f}"
                f"  ({row['seconds']:.0f} s){'  best' if improved else ''}",
                flush=True,
            )
            epoch += 1
            if config.max_minutes and epoch == start_epoch + 1:
                end_epoch = fit_to_budget(
                    config, scheduler, epoch, row["seconds"], time.perf_counter() - run_started
                )

    best_state = torch.load(out / "best.pt", map_location="cpu", weights_only=False)
    model = _network(config, hyper)
    model.load_state_dict(best_state["model"])
    onnx_path = export_onnx(
        model.eval(), ModelMetadata.from_json(best_state["metadata"]), out / "model.onnx"
    )
    summary = {
        "best": best_state["row"],
        "onnx": str(onnx_path),
        "epochs": len(rows),
        "device": str(device),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary


def _write_csv(rows: list[dict[str, float]], path: Path) -> None:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


__all__ = [
    "SELECTION_KEY",
    "EpochSampler",
    "TrainConfig",
    "train",
    "validate",
    "validate_instances",
    "validation_examples",
]
