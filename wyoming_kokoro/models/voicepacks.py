"""Loading and checking voice packs.

A voice pack is a float tensor [rows, 1, 256]: one style vector per input
length. The row count tells the generation apart (510 for v1.0, 511 for
v0.19), which is how a pack is kept from running on the wrong weights.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..errors import ModelLoadError
from .build import STYLE_WIDTH
from .generations import BUILDS

PACK_ROWS_TO_VERSION = {build.pack_rows: build.version for build in BUILDS}
"""A pack's row count tells its generation (for "this is a v0.19 pack" messages)."""


def read_voice_pack(path: Path, expected_rows: int, version: str) -> torch.Tensor:
    """Load a pack with tensors only (`weights_only`), on the CPU, and validate it.

    Raises ModelLoadError if the file is not a finite float tensor of the
    version's shape — in particular for a pack of the other generation.
    """
    try:
        pack = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ModelLoadError(f"voice pack {path} is not a readable tensor file: {err}") from err
    if not isinstance(pack, torch.Tensor):
        raise ModelLoadError(f"voice pack {path} holds a {type(pack).__name__}, not a tensor")
    if not pack.is_floating_point():
        raise ModelLoadError(f"voice pack {path} has dtype {pack.dtype}; expected a float tensor")
    shape = tuple(pack.shape)
    if shape != (expected_rows, 1, STYLE_WIDTH):
        other = PACK_ROWS_TO_VERSION.get(shape[0]) if len(shape) == 3 else None
        hint = (
            f"; that is a {other} pack, which cannot run on {version} weights"
            if other and other != version
            else ""
        )
        raise ModelLoadError(
            f"voice pack {path} has shape {list(shape)}; a {version} pack is "
            f"[{expected_rows}, 1, {STYLE_WIDTH}]{hint}"
        )
    if not torch.isfinite(pack).all():
        raise ModelLoadError(f"voice pack {path} contains NaN or infinite values")
    return pack.float()
