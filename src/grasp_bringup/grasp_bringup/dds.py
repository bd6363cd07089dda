"""Which Fast DDS profile the stack's processes use (config/fastdds.xml says why)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

PROFILE_VARIABLES = ("FASTRTPS_DEFAULT_PROFILES_FILE", "FASTDDS_DEFAULT_PROFILES_FILE")
"""Where Fast DDS 2 (Jazzy) and Fast DDS 3 look for the XML profile file."""


def profile_environment(profile: Path, environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The environment variables that point Fast DDS at ``profile``; none when the user's
    environment names a profile file already (theirs wins)."""
    if any(environ.get(name) for name in PROFILE_VARIABLES):
        return {}
    return dict.fromkeys(PROFILE_VARIABLES, str(profile))
