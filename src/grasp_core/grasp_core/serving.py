"""ONNX Runtime serving: one call from an RGB-D frame to ranked image grasps.

The predictor reads everything it needs to know about a network (input size, modality,
normalisation, angle bins, width scale, classes) from the metadata inside the ONNX file,
checks it against the graph, asks for the best execution provider this onnxruntime build
has, warms the session up and then reuses its input and output buffers on every frame.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import onnxruntime as ort

from grasp_core.grasp import ImageGrasp
from grasp_core.instances import (
    COEFFICIENT_SETS,
    INSTANCE_OUTPUTS,
    Instance,
    InstanceParams,
    decode_instances,
    make_anchors,
)
from grasp_core.metadata import METADATA_KEY, MetadataError, ModelMetadata
from grasp_core.postprocess import DecodedMaps, PostprocessParams, decode_maps, grasps_from_maps
from grasp_core.preprocess import DEFAULT_DEPTH_SCALE_M, CropResize, make_input

PROVIDER_PRIORITY = (
    "TensorrtExecutionProvider",
    "CUDAExecutionProvider",
    "CPUExecutionProvider",
)
"""Execution providers in the order the predictor prefers them."""

INPUT_NAME = "input"
OUTPUT_NAMES = ("quality", "cos2theta", "sin2theta", "width")
"""Graph names of pixel-wise models: input (B, C, H, W); each output (B, N, H, W)."""


class ModelFileError(RuntimeError):
    """A model file (an ONNX model, or a training checkpoint) is missing or not loadable."""


def choose_providers(
    requested: Sequence[str] | None = None, available: Sequence[str] | None = None
) -> list[str]:
    """Providers to ask ONNX Runtime for, best first.

    requested: names in the caller's order of preference (default PROVIDER_PRIORITY); short
    names ('cuda', 'tensorrt', 'cpu') are accepted. Only providers this onnxruntime build
    has are kept, and CPU is always appended as the last resort.
    """
    available = list(ort.get_available_providers() if available is None else available)
    aliases = {p.removesuffix("ExecutionProvider").lower(): p for p in PROVIDER_PRIORITY}
    chosen: list[str] = []
    for name in requested or PROVIDER_PRIORITY:
        full = aliases.get(name.lower(), name)
        if full in available and full not in chosen:
            chosen.append(full)
    if "CPUExecutionProvider" not in chosen:
        chosen.append("CPUExecutionProvider")
    return chosen


def _open_session(
    path: Path, providers: list[str], options: ort.SessionOptions
) -> ort.InferenceSession:
    """Create the session, dropping providers that fail to initialise (a TensorRT build
    without libnvinfer, a CUDA build on a machine without a GPU) one by one."""
    errors: list[str] = []
    for first in range(len(providers)):
        try:
            return ort.InferenceSession(str(path), options, providers=providers[first:])
        except Exception as err:  # onnxruntime raises its own untyped Fail/InvalidGraph errors
            errors.append(f"{providers[first]}: {err}")
    raise ModelFileError(
        f"{path} is not a loadable ONNX model ({errors[-1]}); re-export it with "
        "`python -m grasp_learning.export` or pass another --model"
    )


def read_metadata(session: ort.InferenceSession, path: Path) -> ModelMetadata:
    """The ModelMetadata stored in the session's model, checked against its graph."""
    props = session.get_modelmeta().custom_metadata_map
    if METADATA_KEY not in props:
        raise MetadataError(
            f"{path} carries no {METADATA_KEY!r} metadata: export it with grasp_learning's "
            "export_onnx, which writes input size, normalisation and angle bins into the file"
        )
    metadata = ModelMetadata.from_json(props[METADATA_KEY])
    check_graph(metadata, session, path)
    return metadata


def _fixed(dim: object) -> int | None:
    return dim if isinstance(dim, int) else None


def check_graph(metadata: ModelMetadata, session: ort.InferenceSession, path: Path) -> None:
    """Raise MetadataError where the metadata contradicts the graph's inputs or outputs."""
    inputs = {i.name: i.shape for i in session.get_inputs()}
    if INPUT_NAME not in inputs:
        raise MetadataError(f"{path} has inputs {list(inputs)}; expected one named {INPUT_NAME!r}")
    shape = inputs[INPUT_NAME]
    expected = (None, metadata.channels, *metadata.input_size)
    for axis, (got, want) in enumerate(zip(shape[1:], expected[1:], strict=True), start=1):
        if _fixed(got) is not None and got != want:
            raise MetadataError(
                f"{path}: metadata says input {list(expected[1:])} (C, H, W) for modality "
                f"{metadata.modality!r} but the graph's input axis {axis} is {got}: "
                "the metadata does not belong to this graph; re-export the model"
            )
    outputs = {o.name: o.shape for o in session.get_outputs()}
    if metadata.architecture == "ssg":
        _check_instance_graph(metadata, outputs, path)
        return
    missing = [name for name in OUTPUT_NAMES if name not in outputs]
    if missing:
        raise MetadataError(f"{path} lacks the output(s) {missing}; it has {list(outputs)}")
    for name in OUTPUT_NAMES:
        bins = _fixed(outputs[name][1])
        if bins is not None and bins != metadata.angle_bins:
            raise MetadataError(
                f"{path}: metadata says {metadata.angle_bins} angle bin(s) but output "
                f"{name!r} has {bins} channels; re-export the model"
            )


def _check_instance_graph(metadata: ModelMetadata, outputs: dict[str, list], path: Path) -> None:
    missing = [name for name in INSTANCE_OUTPUTS if name not in outputs]
    if missing:
        raise MetadataError(f"{path} lacks the output(s) {missing}; it has {list(outputs)}")
    expected = {
        ("scores", 2): len(metadata.classes) + 1,
        ("coefficients", 2): len(COEFFICIENT_SETS),
        ("coefficients", 3): metadata.prototypes,
        ("prototypes", 3): metadata.prototypes,
    }
    for (name, axis), want in expected.items():
        got = _fixed(outputs[name][axis])
        if got is not None and got != want:
            raise MetadataError(
                f"{path}: metadata implies {want} along axis {axis} of output {name!r} "
                f"({len(metadata.classes)} classes, k = {metadata.prototypes}) but the graph "
                f"has {got}; re-export the model"
            )
    anchors = len(make_anchors(metadata.input_size, metadata.anchors))
    got = _fixed(outputs["scores"][1])
    if got is not None and got != anchors:
        raise MetadataError(
            f"{path}: the metadata's anchors give {anchors} anchors, the graph scores {got}"
        )


@dataclass(frozen=True, eq=False)
class Prediction:
    """Grasps of one frame and what produced them.

    grasps: best first, in full-image px. maps: the decoded per-pixel grasp over the
    network input (input px; see crop for the mapping); its raw per-bin maps are the
    predictor's output buffers, so read them before the next predict(). Times in ms.
    """

    grasps: list[ImageGrasp]
    maps: DecodedMaps
    crop: CropResize
    preprocess_ms: float
    inference_ms: float
    postprocess_ms: float


def _output_binding(session: ort.InferenceSession, outputs: dict[str, np.ndarray]) -> ort.IOBinding:
    """An IOBinding that writes each named output into its host buffer: the same buffers on
    every run, so a predictor allocates nothing per frame."""
    binding = session.io_binding()
    for name, array in outputs.items():
        binding.bind_ortvalue_output(name, ort.OrtValue.ortvalue_from_numpy(array))
    return binding


def _bind_input(binding: ort.IOBinding, array: np.ndarray) -> None:
    """Bind ``array`` as the graph input for the next run. Done before every run: a
    provider on another device (CUDA, TensorRT) copies a host input when it is bound, so a
    binding made once would keep feeding the first frame."""
    binding.bind_ortvalue_input(INPUT_NAME, ort.OrtValue.ortvalue_from_numpy(array))


def _check_exists(path: Path) -> None:
    if not path.is_file():
        raise ModelFileError(
            f"model file {path} does not exist: pass --model with the path of an ONNX "
            "model (the shipped ones are in models/)"
        )


def _load(
    model_path: str | Path, providers: Sequence[str] | None, threads: int | None
) -> tuple[ort.InferenceSession, ModelMetadata]:
    """A fully optimised session of the best available providers and its checked metadata."""
    path = Path(model_path)
    _check_exists(path)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        options.intra_op_num_threads = threads
    # ORT's worker threads otherwise spin after each run, taking the cores the frame's pre-
    # and post-processing and the other nodes need: with one other busy process on a 2-core
    # CPU, GR-ConvNet-16 took 64 instead of 48 ms and post-processing 2.1 instead of 2.0 ms.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = _open_session(path, choose_providers(providers), options)
    return session, read_metadata(session, path)


def _read_file_metadata(path: Path) -> ModelMetadata:
    """The metadata of an ONNX file from a CPU session without graph optimisation: cheap
    enough to decide which predictor to build before building it."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return read_metadata(_open_session(path, ["CPUExecutionProvider"], options), path)


class OnnxPredictor(ABC):
    """What both predictors share: an ONNX Runtime session of the model and its metadata,
    one input buffer and output buffers bound once (nothing is allocated per frame), warm-up
    runs, and a frame's first two timed steps, make_input and the network; each subclass
    decodes the outputs and times that itself.

    model_path: ONNX file with metadata. providers: preference order (see choose_providers).
    threads: intra-op threads (None: ONNX Runtime's default, one per core). warmup_runs:
    inferences on a zero frame before the first real one, so the first frame is not slow.
    """

    def __init__(
        self,
        model_path: str | Path,
        providers: Sequence[str] | None = None,
        threads: int | None = None,
        warmup_runs: int = 3,
    ) -> None:
        self.path = Path(model_path)
        self.session, self.metadata = _load(self.path, providers, threads)
        self._check_architecture()
        self.providers = self.session.get_providers()
        h, w = self.metadata.input_size
        self._input = np.zeros((1, self.metadata.channels, h, w), np.float32)
        self._outputs = {
            name: np.empty((1, *shape), np.float32) for name, shape in self._output_shapes().items()
        }
        self._binding = _output_binding(self.session, self._outputs)
        for _ in range(warmup_runs):
            self.infer()

    @abstractmethod
    def _check_architecture(self) -> None:
        """Raise MetadataError when this predictor does not serve the model's architecture."""

    @abstractmethod
    def _output_shapes(self) -> dict[str, tuple[int, ...]]:
        """Each graph output's shape for one image, without the batch axis."""

    def infer(self) -> dict[str, np.ndarray]:
        """Run the network on the current input buffer; the outputs of the one image (no
        batch axis), reused by the next run."""
        _bind_input(self._binding, self._input)
        self.session.run_with_iobinding(self._binding)
        return {name: array[0] for name, array in self._outputs.items()}

    def _run(
        self,
        rgb: np.ndarray | None,
        depth: np.ndarray | None,
        depth_scale_m: float,
        crop: CropResize | None,
    ) -> tuple[dict[str, np.ndarray], CropResize, tuple[float, float]]:
        """make_input into the input buffer, then the network: the outputs, the crop and
        the two steps' times, ms."""
        t0 = time.perf_counter()
        _, crop = make_input(
            rgb, depth, self.metadata, depth_scale_m=depth_scale_m, crop=crop, out=self._input
        )
        t1 = time.perf_counter()
        outputs = self.infer()
        return outputs, crop, ((t1 - t0) * 1e3, (time.perf_counter() - t1) * 1e3)


class GraspPredictor(OnnxPredictor):
    """A pixel-wise grasp network (GR-ConvNet, GG-CNN2) served by ONNX Runtime.

    params: how grasps are read from the maps; the other arguments as OnnxPredictor's.
    """

    def __init__(
        self,
        model_path: str | Path,
        providers: Sequence[str] | None = None,
        params: PostprocessParams | None = None,
        threads: int | None = None,
        warmup_runs: int = 3,
    ) -> None:
        self.params = params if params is not None else PostprocessParams()
        super().__init__(model_path, providers, threads, warmup_runs)

    def _check_architecture(self) -> None:
        if self.metadata.architecture == "ssg":
            raise MetadataError(
                f"{self.path} holds an instance-wise ssg model: serve it with "
                "InstancePredictor (open_predictor picks the right one)"
            )

    def _output_shapes(self) -> dict[str, tuple[int, ...]]:
        return dict.fromkeys(OUTPUT_NAMES, (self.metadata.angle_bins, *self.metadata.input_size))

    def predict(
        self,
        rgb: np.ndarray | None,
        depth: np.ndarray | None,
        depth_scale_m: float = DEFAULT_DEPTH_SCALE_M,
        crop: CropResize | None = None,
    ) -> Prediction:
        """Ranked grasps in full-image px from one frame.

        rgb: HxWx3 uint8 RGB; depth: HxW aligned to rgb, uint16 in depth_scale_m units or
        float m; either may be None when the model's modality does not use it. crop: the
        image region fed to the network (default: centred square). Raises InputError for
        unusable images.
        """
        maps, crop, (preprocess_ms, inference_ms) = self._run(rgb, depth, depth_scale_m, crop)
        t0 = time.perf_counter()
        decoded = decode_maps(
            maps["quality"], maps["cos2theta"], maps["sin2theta"], maps["width"],
            self.metadata, self.params,
        )  # fmt: skip
        grasps = [crop.grasp_to_image(g) for g in grasps_from_maps(decoded, self.params)]
        return Prediction(
            grasps=grasps,
            maps=decoded,
            crop=crop,
            preprocess_ms=preprocess_ms,
            inference_ms=inference_ms,
            postprocess_ms=(time.perf_counter() - t0) * 1e3,
        )


@dataclass(frozen=True, eq=False)
class InstancePrediction:
    """Instance-wise grasps of one frame: one grasp per detected object, best first.

    grasps: full-image px, each with the instance_id and label of its object. instances:
    the detections (boxes and masks in input px over the network input; map them with
    crop). Times in ms.
    """

    grasps: list[ImageGrasp]
    instances: list[Instance]
    crop: CropResize
    preprocess_ms: float
    inference_ms: float
    postprocess_ms: float


class InstancePredictor(OnnxPredictor):
    """An instance-wise grasp network (SSG) served by ONNX Runtime; the same constructor
    arguments and predict() as GraspPredictor, with InstanceParams for params. Decoding,
    NMS and mask assembly run in numpy (grasp_core.instances)."""

    def __init__(
        self,
        model_path: str | Path,
        providers: Sequence[str] | None = None,
        params: InstanceParams | None = None,
        threads: int | None = None,
        warmup_runs: int = 3,
    ) -> None:
        self.params = params if params is not None else InstanceParams()
        super().__init__(model_path, providers, threads, warmup_runs)

    @cached_property
    def anchors(self) -> np.ndarray:
        """The model's anchor boxes over the input (grasp_core.instances.make_anchors)."""
        return make_anchors(self.metadata.input_size, self.metadata.anchors)

    def _check_architecture(self) -> None:
        if self.metadata.architecture != "ssg":
            raise MetadataError(
                f"{self.path} holds a pixel-wise {self.metadata.architecture!r} model: "
                "serve it with GraspPredictor (open_predictor picks the right one)"
            )

    def _output_shapes(self) -> dict[str, tuple[int, ...]]:
        a, k = len(self.anchors), self.metadata.prototypes
        grid = {o.name: o.shape for o in self.session.get_outputs()}["prototypes"][1:3]
        if not all(_fixed(n) for n in grid):
            raise MetadataError(
                f"{self.path}: the prototypes output has no fixed size ({grid}); export the "
                "model with grasp_learning's export_onnx"
            )
        return {
            "scores": (a, len(self.metadata.classes) + 1),
            "boxes": (a, 4),
            "coefficients": (a, len(COEFFICIENT_SETS), k),
            "prototypes": (*grid, k),
        }

    def predict(
        self,
        rgb: np.ndarray | None,
        depth: np.ndarray | None,
        depth_scale_m: float = DEFAULT_DEPTH_SCALE_M,
        crop: CropResize | None = None,
    ) -> InstancePrediction:
        """One grasp per detected object, in full-image px; arguments as
        GraspPredictor.predict. Raises InputError for unusable images."""
        outputs, crop, (preprocess_ms, inference_ms) = self._run(rgb, depth, depth_scale_m, crop)
        t0 = time.perf_counter()
        instances, grasps = decode_instances(outputs, self.metadata, self.anchors, self.params)
        return InstancePrediction(
            grasps=[crop.grasp_to_image(g) for g in grasps],
            instances=instances,
            crop=crop,
            preprocess_ms=preprocess_ms,
            inference_ms=inference_ms,
            postprocess_ms=(time.perf_counter() - t0) * 1e3,
        )


def open_predictor(
    model_path: str | Path,
    providers: Sequence[str] | None = None,
    params: PostprocessParams | None = None,
    instance_params: InstanceParams | None = None,
    threads: int | None = None,
    warmup_runs: int = 3,
) -> GraspPredictor | InstancePredictor:
    """The predictor the file's metadata calls for: InstancePredictor for an 'ssg' model
    (with instance_params), GraspPredictor for a pixel-wise one (with params)."""
    path = Path(model_path)
    _check_exists(path)
    metadata = _read_file_metadata(path)
    if metadata.architecture == "ssg":
        return InstancePredictor(path, providers, instance_params, threads, warmup_runs)
    return GraspPredictor(path, providers, params, threads, warmup_runs)
