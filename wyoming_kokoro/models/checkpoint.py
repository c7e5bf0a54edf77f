"""The one rule for fitting a checkpoint's tensors onto the Kokoro network.

hexgrad's official files (v0.19 and v1.0 alike) were saved from DataParallel
modules, so every key of every module carries a `module.` prefix, and files
saved with older `transformers` also hold BERT's `embeddings.position_ids`, a
buffer today's ALBERT computes instead of loading. Stock `kokoro.KModel` copes by
retrying with `strict=False`, which would just as quietly accept a file missing
half its weights. This module accepts exactly those two quirks and nothing else:
any other missing, unexpected or mis-shaped tensor is an error that names the
file, the module and the first offending keys, so a user can tell a truncated
download from a checkpoint of another model.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from ..errors import ModelLoadError

DATA_PARALLEL_PREFIX = "module."
"""What `torch.nn.DataParallel` puts in front of every key it saves."""

IGNORABLE_KEYS: Mapping[str, frozenset[str]] = {
    "bert": frozenset({"embeddings.position_ids"}),
}
"""Per module: non-parameter buffers old checkpoints hold and the network may not load."""

SHOWN_KEYS = 3
"""How many offending keys an error message lists before "and N more"."""


def strip_data_parallel_prefix(
    name: str, state: Mapping[str, torch.Tensor], source: str
) -> dict[str, torch.Tensor]:
    """The module's state with DataParallel's prefix removed, if every key has it.

    A module whose keys are partly prefixed was not saved by any known tool; guessing
    which half is right could load the wrong tensor into a layer, so it is refused.
    """
    prefixed = [key for key in state if key.startswith(DATA_PARALLEL_PREFIX)]
    if not prefixed:
        return dict(state)
    if len(prefixed) != len(state):
        bare = [key for key in state if not key.startswith(DATA_PARALLEL_PREFIX)]
        raise ModelLoadError(
            f"{source}: module '{name}' mixes keys with and without the "
            f"'{DATA_PARALLEL_PREFIX}' prefix ({len(prefixed)} with, {len(bare)} without, "
            f"e.g. {_some(prefixed)} and {_some(bare)}); the checkpoint is damaged"
        )
    return {key[len(DATA_PARALLEL_PREFIX) :]: value for key, value in state.items()}


def load_module_state(module: torch.nn.Module, name: str, state: object, source: str) -> None:
    """Load one top-level module's tensors strictly, under the two allowed quirks."""
    if not isinstance(state, Mapping) or not all(
        isinstance(value, torch.Tensor) for value in state.values()
    ):
        raise ModelLoadError(f"{source}: module '{name}' is not a table of tensors")
    tensors = strip_data_parallel_prefix(name, state, source)
    expected = module.state_dict()
    ignorable = IGNORABLE_KEYS.get(name, frozenset()) - expected.keys()
    for key in ignorable:
        tensors.pop(key, None)

    missing = [key for key in expected if key not in tensors]
    unexpected = [key for key in tensors if key not in expected]
    misshaped = [
        f"{key} {list(tensors[key].shape)} (network: {list(expected[key].shape)})"
        for key in expected
        if key in tensors and tensors[key].shape != expected[key].shape
    ]
    problems = []
    if missing:
        problems.append(f"missing {len(missing)} tensor(s): {_some(missing)}")
    if unexpected:
        problems.append(f"unexpected {len(unexpected)} tensor(s): {_some(unexpected)}")
    if misshaped:
        problems.append(f"{len(misshaped)} tensor(s) of the wrong shape: {_some(misshaped)}")
    if problems:
        raise ModelLoadError(
            f"{source}: module '{name}' does not fit the Kokoro network: " + "; ".join(problems)
        )
    # The file's tensors become the weights (no copy; see KokoroNetwork's `empty`),
    # in the network's dtype should a converter have saved another.
    tensors = {key: value.to(expected[key].dtype) for key, value in tensors.items()}
    module.load_state_dict(tensors, strict=True, assign=True)


def _some(items: list[str]) -> str:
    shown = ", ".join(items[:SHOWN_KEYS])
    rest = len(items) - SHOWN_KEYS
    return f"{shown} and {rest} more" if rest > 0 else shown
