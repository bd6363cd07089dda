"""From the network's per-pixel grasp maps to ranked image grasps.

A GR-ConvNet-style network outputs, at input resolution and for each of N angle bins
(004_b952421ab3ddfc5d.txt, sec. IV-B, eq. 5): quality Q, cos 2θ, sin 2θ and a width map,
each (N, H, W). At each pixel the bin with the highest (smoothed) quality supplies the angle
and width; grasps are the local maxima of that quality. N = 1 is classic GR-ConvNet.

All coordinates are input px (the network input image, see grasp_core.preprocess); map the
grasps back to the camera image with ``CropResize.grasp_to_image``. Angles follow
grasp_core.grasp: closing axis, rad, counter-clockwise on screen, in [-pi/2, pi/2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import cv2
import numpy as np

from grasp_core.grasp import ImageGrasp
from grasp_core.metadata import ModelMetadata
from grasp_core.preprocess import InputError


@dataclass(frozen=True)
class PostprocessParams:
    """How grasps are read from the maps. Lengths in input px, quality in 0..1.

    quality_sigma_px: standard deviation of the Gaussian smoothing of each bin's quality
    (GR-ConvNet's 2 px); 0 turns smoothing off. threshold: a peak's smoothed quality must
    exceed it (GR-ConvNet's 0.2). min_distance_px: kept grasps are at least this far apart
    in Chebyshev distance, max(|du|, |dv|) (GR-ConvNet's 20 px). max_grasps: at most this
    many grasps, best first. jaw_length_px: jaw size of every grasp; None gives width / 2,
    the half jaw size of GR-ConvNet and of the evaluation in 004_b952421ab3ddfc5d.txt.
    """

    quality_sigma_px: float = 2.0
    threshold: float = 0.2
    min_distance_px: int = 20
    max_grasps: int = 5
    jaw_length_px: float | None = None

    def __post_init__(self) -> None:
        if self.quality_sigma_px < 0:
            raise ValueError(f"quality_sigma_px must be >= 0 px, got {self.quality_sigma_px}")
        if self.min_distance_px < 1:
            raise ValueError(f"min_distance_px must be >= 1 px, got {self.min_distance_px}")
        if self.max_grasps < 1:
            raise ValueError(f"max_grasps must be >= 1, got {self.max_grasps}")
        if self.jaw_length_px is not None and self.jaw_length_px <= 0:
            raise ValueError(f"jaw_length_px must be > 0 px or None, got {self.jaw_length_px}")


@dataclass(frozen=True, eq=False)
class DecodedMaps:
    """The per-pixel grasp of the best angle bin over the input px.

    quality: (H, W) smoothed quality of the best bin (unitless, about 0..1), float32.
    quality_bins: (N, H, W) the smoothed quality of every bin. cos2_bins, sin2_bins,
    width_bins: the network's raw (N, H, W) maps of every bin. metadata: the model's (its
    width scale).

    The best bin of every pixel (bin_index) and its maps (cos2, sin2, width_px in input px
    >= 0, angle in rad in [-pi/2, pi/2)) are found on first use; serving reads them at the
    peaks only (angle_at, width_at), which saves a pass over every bin and pixel, a gather
    and an arctangent per frame.
    """

    quality: np.ndarray
    quality_bins: np.ndarray
    cos2_bins: np.ndarray
    sin2_bins: np.ndarray
    width_bins: np.ndarray
    metadata: ModelMetadata

    def _chosen(self, stack: np.ndarray) -> np.ndarray:
        if len(stack) == 1:
            return stack[0]
        # A flat gather: several times faster than take_along_axis on (N, H, W) stacks.
        best = self.bin_index
        flat = (best * best.size + np.arange(best.size).reshape(best.shape)).ravel()
        return stack.ravel().take(flat).reshape(best.shape)

    @cached_property
    def bin_index(self) -> np.ndarray:
        """(H, W) the bin of highest smoothed quality per pixel (the first on ties)."""
        # A pass per bin over contiguous planes; argmax along the bin axis reads strided
        # memory and takes several times as long.
        best_quality = self.quality_bins[0].copy()
        best = np.zeros(best_quality.shape, dtype=np.intp)
        for index in range(1, len(self.quality_bins)):
            higher = self.quality_bins[index] > best_quality
            best[higher] = index
            np.maximum(best_quality, self.quality_bins[index], out=best_quality)
        return best

    def bins_at(self, v: np.ndarray, u: np.ndarray) -> np.ndarray:
        """The best bin at pixels (v, u) only (the first on ties)."""
        return self.quality_bins[:, v, u].argmax(axis=0)

    @cached_property
    def cos2(self) -> np.ndarray:
        return self._chosen(self.cos2_bins)

    @cached_property
    def sin2(self) -> np.ndarray:
        return self._chosen(self.sin2_bins)

    @cached_property
    def width_px(self) -> np.ndarray:
        return self._width(self._chosen(self.width_bins))

    @cached_property
    def angle(self) -> np.ndarray:
        return angle_from_maps(self.cos2, self.sin2)

    def _width(self, width_map: np.ndarray) -> np.ndarray:
        # Negative widths are regression noise: 0 px.
        return np.maximum(width_from_map(width_map, self.metadata), 0.0).astype(np.float32)

    def angle_at(self, v: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Angles (rad) at pixels (v, u) only."""
        b = self.bins_at(v, u)
        return angle_from_maps(self.cos2_bins[b, v, u], self.sin2_bins[b, v, u])

    def width_at(self, v: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Openings (input px, >= 0) at pixels (v, u) only."""
        return self._width(self.width_bins[self.bins_at(v, u), v, u])


def width_from_map(width_map: np.ndarray | float, metadata: ModelMetadata) -> np.ndarray | float:
    """Gripper opening in input px from width-map values; the one place width_scale applies."""
    return width_map * metadata.width_scale


def width_to_map(width_px: np.ndarray | float, metadata: ModelMetadata) -> np.ndarray | float:
    """Width-map values (training targets) from an opening in input px; see width_from_map."""
    return width_px / metadata.width_scale


def angle_from_maps(cos2: np.ndarray, sin2: np.ndarray) -> np.ndarray:
    """Closing-axis angle, rad in [-pi/2, pi/2), float64, from the cos 2θ and sin 2θ maps.

    The doubled angle makes θ and θ + π (the same parallel-jaw grasp) one encoding. float64
    because the float32 nearest to -pi/2 lies below it and would wrap to +pi/2.
    """
    angle = 0.5 * np.arctan2(np.asarray(sin2, dtype=np.float64), np.asarray(cos2, dtype=np.float64))
    # atan2 lies in [-pi, pi], so only +pi/2 is outside [-pi/2, pi/2): cheaper than a modulo.
    return np.where(angle >= np.pi / 2, angle - np.pi, angle)


def angle_to_maps(angle: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """The (cos 2θ, sin 2θ) map values (training targets) of a closing-axis angle θ, rad."""
    return np.cos(2.0 * angle), np.sin(2.0 * angle)


def smooth_quality(quality: np.ndarray, sigma_px: float) -> np.ndarray:
    """Each bin of an (N, H, W) quality stack blurred by a Gaussian of sigma_px (input px).

    Edge pixels are repeated beyond the border, which neither invents nor drops quality
    there. Returns float32 (N, H, W); a copy even when sigma_px is 0.
    """
    quality = np.asarray(quality, dtype=np.float32)
    if sigma_px == 0:
        return quality.copy()
    # The kernel reaches 3 sigma (OpenCV's default for float images is 4): the tails past
    # it hold 0.3 % of the weight, and the blur is a quarter faster.
    size = 2 * math.ceil(3 * sigma_px) + 1
    smoothed = np.empty_like(quality)
    for q, out in zip(quality, smoothed, strict=True):
        cv2.GaussianBlur(q, (size, size), sigma_px, dst=out, borderType=cv2.BORDER_REPLICATE)
    return smoothed


def _as_stack(name: str, grasp_map: np.ndarray, metadata: ModelMetadata) -> np.ndarray:
    grasp_map = np.asarray(grasp_map, dtype=np.float32)
    if grasp_map.ndim == 2:
        grasp_map = grasp_map[np.newaxis]
    expected = (metadata.angle_bins, *metadata.input_size)
    if grasp_map.shape != expected:
        raise InputError(
            f"{name} map has shape {grasp_map.shape} but the model's metadata gives "
            f"(angle_bins, H, W) = {expected}: drop the batch axis and check the model"
        )
    return grasp_map


def decode_maps(
    quality: np.ndarray,
    cos2: np.ndarray,
    sin2: np.ndarray,
    width: np.ndarray,
    metadata: ModelMetadata,
    params: PostprocessParams,
) -> DecodedMaps:
    """The grasp at every input pixel from the raw network maps.

    quality, cos2, sin2, width: (N, H, W) with N = metadata.angle_bins and (H, W) =
    metadata.input_size; (H, W) is accepted for N = 1. Each bin's quality is smoothed, the
    bin of highest smoothed quality is chosen per pixel (004_b952421ab3ddfc5d.txt, sec.
    IV-B), and that bin's cos 2θ, sin 2θ and width give the angle and width there.
    Negative widths (regression noise) become 0 px.
    """
    quality, cos2, sin2, width = (
        _as_stack(name, grasp_map, metadata)
        for name, grasp_map in (
            ("quality", quality),
            ("cos2", cos2),
            ("sin2", sin2),
            ("width", width),
        )
    )
    smoothed = smooth_quality(quality, params.quality_sigma_px)
    return DecodedMaps(smoothed.max(axis=0), smoothed, cos2, sin2, width, metadata)


def find_peaks(quality: np.ndarray, params: PostprocessParams) -> tuple[np.ndarray, np.ndarray]:
    """Rows v and columns u (input px) of the grasp peaks of an (H, W) quality map, best first.

    A peak is a pixel above params.threshold that no pixel within Chebyshev distance
    min_distance_px - 1 exceeds; equal neighbours (plateaus) are then thinned greedily, best
    first and earlier in raster order on ties, so that kept peaks are at least
    min_distance_px apart. At most params.max_grasps are returned.
    """
    quality = np.asarray(quality, dtype=np.float32)
    # Pixels above the threshold first: they are a few percent of a table scene, so the
    # local-maximum test reads only those (a third of the time of testing every pixel).
    candidates = np.flatnonzero(quality > params.threshold)
    reach = params.min_distance_px - 1
    if reach > 0 and candidates.size:
        kernel = np.ones((2 * reach + 1, 2 * reach + 1), dtype=np.uint8)
        neighbourhood_max = cv2.dilate(quality, kernel).ravel()
        candidates = candidates[quality.ravel()[candidates] >= neighbourhood_max[candidates]]
    vs, us = np.unravel_index(candidates, quality.shape)
    order = np.argsort(-quality[vs, us], kind="stable")
    vs, us = vs[order], us[order]
    kept_v, kept_u = [], []
    # Runs at most max_grasps times; each pass drops every candidate near the best remaining.
    while vs.size and len(kept_v) < params.max_grasps:
        kept_v.append(vs[0])
        kept_u.append(us[0])
        far = np.maximum(np.abs(vs - vs[0]), np.abs(us - us[0])) >= params.min_distance_px
        vs, us = vs[far], us[far]
    return np.asarray(kept_v, dtype=np.intp), np.asarray(kept_u, dtype=np.intp)


def grasps_from_maps(decoded: DecodedMaps, params: PostprocessParams) -> list[ImageGrasp]:
    """Ranked grasps (best first, input px) at the peaks of decoded.quality.

    Quality is reported clipped to 0..1 (the range of ImageGrasp.quality); ranking uses the
    unclipped value.
    """
    vs, us = find_peaks(decoded.quality, params)
    angles, widths = decoded.angle_at(vs, us), decoded.width_at(vs, us).tolist()
    grasps = []
    for v, u, angle, width in zip(vs, us, angles, widths, strict=True):
        jaw = params.jaw_length_px if params.jaw_length_px is not None else width / 2.0
        grasps.append(
            ImageGrasp(
                u=float(u),
                v=float(v),
                angle=float(angle),
                width=width,
                jaw_length=jaw,
                quality=float(np.clip(decoded.quality[v, u], 0.0, 1.0)),
            )
        )
    return grasps


def detect_grasps(
    quality: np.ndarray,
    cos2: np.ndarray,
    sin2: np.ndarray,
    width: np.ndarray,
    metadata: ModelMetadata,
    params: PostprocessParams | None = None,
) -> list[ImageGrasp]:
    """Ranked grasps (best first, input px) from the raw network maps; see decode_maps."""
    params = params if params is not None else PostprocessParams()
    return grasps_from_maps(decode_maps(quality, cos2, sin2, width, metadata, params), params)
