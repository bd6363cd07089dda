"""The image-space grasp: the one planar grasp type of the stack.

Conventions (mirrored in grasp_interfaces/msg/ImageGrasp.msg):

- Pixel coordinates: ``u`` runs right along a row, ``v`` runs down along a column, origin
  at the centre of the top-left pixel (OpenCV).
- ``angle`` is the direction of the closing axis (the line the jaws move along), in rad,
  measured from +u and positive counter-clockwise *as the image is seen on screen*, i.e.
  from +u towards -v. This is the convention of the Cornell and Jacquard annotations and of
  GR-ConvNet / GG-CNN, so their labels and angle maps carry over unchanged.
- A parallel-jaw grasp is symmetric under a half turn, so angles are kept in [-pi/2, pi/2).
- ``width`` is the opening along the closing axis and ``jaw_length`` the size of a jaw
  across it, both in px of the image the grasp refers to.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

NO_INSTANCE = -1


def wrap_angle(angle: float | np.ndarray) -> float | np.ndarray:
    """Map an angle in rad (scalar or array) onto the grasp's half-turn period, [-pi/2, pi/2)."""
    return (angle + math.pi / 2) % math.pi - math.pi / 2


@dataclass(frozen=True, slots=True)
class ImageGrasp:
    """A planar parallel-jaw grasp in an image (see the module docstring for conventions).

    u, v: centre, px. angle: closing-axis direction, rad, counter-clockwise on screen,
    in [-pi/2, pi/2). width: opening along the closing axis, px. jaw_length: jaw size
    across the closing axis, px. quality: predicted success, 0..1. instance_id and label
    name the object for instance-wise models (NO_INSTANCE and '' otherwise).
    """

    u: float
    v: float
    angle: float
    width: float
    jaw_length: float
    quality: float = 1.0
    instance_id: int = NO_INSTANCE
    label: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "angle", float(wrap_angle(float(self.angle))))

    def scaled(self, sx: float, sy: float, du: float = 0.0, dv: float = 0.0) -> ImageGrasp:
        """This grasp after the image map (u, v) -> (sx*u + du, sy*v + dv).

        Anisotropic scaling turns the closing axis and shears the rectangle into a
        parallelogram. The width (px) becomes the length of the mapped closing axis and the
        jaw_length (px) the parallelogram's area over that width,
        |sx*sy| * jaw_length / |A d| with A = diag(sx, sy) and d the unit closing axis. So
        the grasp's area scales by |sx*sy| like the image's, and mapping back with
        (1/sx, 1/sy) restores the grasp; the length of the mapped jaw side would not.
        """
        c, s = math.cos(self.angle), math.sin(self.angle)
        # Screen-CCW angle: the closing axis points along (cos, -sin) in (u, v).
        axis = np.array([c * sx, -s * sy])
        stretch = float(np.hypot(*axis))
        return replace(
            self,
            u=self.u * sx + du,
            v=self.v * sy + dv,
            angle=math.atan2(-axis[1], axis[0]),
            width=self.width * stretch,
            jaw_length=abs(sx * sy) * self.jaw_length / stretch,
        )
