"""The one Kokoro-82M network shared by every model generation.

v0.19 and v1.0 are the same StyleTTS2/ISTFTNet architecture with different
weights, symbol tables and config spellings. `KokoroNetwork` holds kokoro's
modules under kokoro's names (`albert`, `prosody`, `istftnet`: our own
definitions, so that running a model needs neither the `kokoro` package nor
`transformers`, whose import alone costs 110 MiB and 3 s), is built from a
normalised config and loads its state strictly (`checkpoint.load_module_state`):
a checkpoint with a missing or unexpected tensor is an error, never a silently
half-loaded model (kokoro's KModel falls back to strict=False). The pass through
it is `streaming.synthesize_stream`.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields
from typing import Any

import torch
from torch.nn.utils.weight_norm import WeightNorm
from torch.overrides import TorchFunctionMode

from ..errors import ModelLoadError
from .albert import Albert
from .checkpoint import load_module_state
from .istftnet import SAMPLE_RATE, STFT, Decoder
from .prosody import ProsodyPredictor, TextEncoder

__all__ = ["MAX_TOKENS", "MODULE_NAMES", "NOISE_SEED", "SAMPLE_RATE", "KokoroNetwork"]

MAX_TOKENS = 510
"""Longest token sequence one forward pass takes (512 positions minus two pads)."""

NOISE_SEED = 0
"""Seed for the vocoder's noise source before every pass: the same text and voice
always give the same audio (reproducible output, tests that compare bytes)."""

MODULE_NAMES = ("bert", "bert_encoder", "predictor", "text_encoder", "decoder")
"""Top-level modules; each checkpoint stores one state dict per name."""


@dataclass(frozen=True)
class NetworkConfig:
    """Hyper-parameters of the network, independent of how a version spells them."""

    n_token: int
    hidden_dim: int
    style_dim: int
    n_layer: int
    max_dur: int
    dropout: float
    n_mels: int
    text_encoder_kernel_size: int
    plbert: Mapping[str, Any]
    istftnet: Mapping[str, Any]

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any], version: str) -> NetworkConfig:
        """Pick the hyper-parameters out of a config mapping (extra keys are ignored)."""
        try:
            return cls(**{f.name: raw[f.name] for f in fields(cls)})
        except KeyError as err:
            raise ModelLoadError(f"{version} config.json lacks the key {err}") from err


def module_arguments(config: NetworkConfig) -> dict[str, dict[str, Any]]:
    """Constructor arguments of the predictor, text encoder and decoder, by module name.

    Spelled as kokoro's classes take them, so the tests' reference network
    (tests/kokoro_reference.py) builds kokoro's modules from the same table.
    """
    return {
        "predictor": {
            "style_dim": config.style_dim,
            "d_hid": config.hidden_dim,
            "nlayers": config.n_layer,
            "max_dur": config.max_dur,
        },
        "text_encoder": {
            "channels": config.hidden_dim,
            "kernel_size": config.text_encoder_kernel_size,
            "depth": config.n_layer,
            "n_symbols": config.n_token,
        },
        "decoder": {
            "dim_in": config.hidden_dim,
            "style_dim": config.style_dim,
            "dim_out": config.n_mels,
            **config.istftnet,
        },
    }


def _all_tensors(network: torch.nn.Module) -> Iterator[tuple[str, torch.Tensor]]:
    """Parameters, buffers and tensors kept as plain module attributes, by name
    (but not weight norm's derived weights, which its hook remakes at every call)."""
    yield from network.named_parameters()
    yield from network.named_buffers()
    for prefix, module in network.named_modules():
        derived = {
            hook.name for hook in module._forward_pre_hooks.values() if isinstance(hook, WeightNorm)
        }
        for name, value in vars(module).items():
            if isinstance(value, torch.Tensor) and name not in derived:
                yield f"{prefix}.{name}", value


_INITIALISERS = frozenset(
    getattr(torch.nn.init, name)
    for name in dir(torch.nn.init)
    if name.endswith("_") and not name.startswith("_")
)
"""torch.nn.init's in-place fills (normal_, kaiming_uniform_, ones_, ...)."""


class _ShapesOnly(TorchFunctionMode):
    """Makes module construction on the meta device compute shapes and nothing else.

    On meta tensors torch runs the random initialisers, weight norm and the STFT
    window through its Python reference kernels, and the first of those imports
    torch._dynamo, and with it fx's symbolic shapes and sympy: 73 MiB of resident
    memory for the life of the process (measured right after a v1.0 load: 524 MiB
    with, 451 without), for values the checkpoint overwrites a moment later. Here
    the fills are skipped and those tensors are made empty in their shapes. Modes
    are per thread, so a network built meanwhile in another thread is unaffected.
    """

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in _INITIALISERS:  # each fills its first argument, `tensor`, in place
            return args[0] if args else kwargs["tensor"]
        if func is torch.norm_except_dim:
            return _empty_norm(*args, **kwargs)
        if func is torch._weight_norm:  # the weight made from (v, g): v's shape
            weight = args[0] if args else kwargs["v"]
            return torch.empty(weight.shape, dtype=weight.dtype, device=weight.device)
        if func is torch.hann_window:  # the STFT's, remade at load (_compute_plain_tensors)
            return torch.empty(args[0], dtype=kwargs.get("dtype"), device="meta")
        return func(*args, **kwargs)


def _empty_norm(weight: torch.Tensor, pow: float = 2, dim: int = 0) -> torch.Tensor:
    """An uninitialised tensor shaped like `torch.norm_except_dim(weight, pow, dim)`."""
    shape = [] if dim == -1 else [n if axis == dim else 1 for axis, n in enumerate(weight.shape)]
    return torch.empty(shape, dtype=weight.dtype, device=weight.device)


class KokoroNetwork(torch.nn.Module):
    """Kokoro's network, language- and version-blind: token ids + style in, audio out."""

    def __init__(self, config: NetworkConfig, empty: bool = False) -> None:
        """Build the modules; with `empty`, without memory for their weights.

        `empty` builds every module on the meta device, so loading a checkpoint
        (`load_modules`) takes its tensors as the weights instead of copying them
        into a randomly initialised twin: measured, that twin and its copy raised
        the peak resident memory of a load by about 470 MB.
        """
        super().__init__()
        shapes_only = _ShapesOnly() if empty else contextlib.nullcontext()
        with torch.device("meta" if empty else "cpu"), shapes_only, warnings.catch_warnings():
            # The checkpoints hold weight norm's g/v pairs, which the old hook-based
            # `weight_norm` names as they do; its deprecation warning would only alarm
            # users, since `optimize` folds it away right after loading.
            warnings.filterwarnings("ignore", ".*weight_norm", FutureWarning)
            arguments = module_arguments(config)
            self.bert = Albert(config.n_token, config.plbert)
            self.bert_encoder = torch.nn.Linear(self.bert.hidden_size, config.hidden_dim)
            self.predictor = ProsodyPredictor(**arguments["predictor"])
            self.text_encoder = TextEncoder(**arguments["text_encoder"])
            self.decoder = Decoder(**arguments["decoder"])

    @property
    def device(self) -> torch.device:
        """Where the weights are."""
        return self.bert_encoder.weight.device

    def load_modules(self, state: Mapping[str, Mapping[str, torch.Tensor]], source: str) -> None:
        """Load one state dict per top-level module, strictly (see `checkpoint`).

        `source` names the checkpoint file in error messages.
        """
        names = set(state)
        if names != set(MODULE_NAMES):
            missing = sorted(set(MODULE_NAMES) - names)
            extra = sorted(names - set(MODULE_NAMES))
            raise ModelLoadError(
                f"{source}: checkpoint modules do not match the Kokoro network "
                f"(missing: {missing or 'none'}, unexpected: {extra or 'none'})"
            )
        for name in MODULE_NAMES:
            load_module_state(getattr(self, name), name, state[name], source)
        self._compute_plain_tensors()
        unloaded = [name for name, tensor in _all_tensors(self) if tensor.is_meta]
        if unloaded:  # an empty network still lacking data: never run it
            raise ModelLoadError(f"{source}: no data for {', '.join(unloaded[:3])}")

    def _compute_plain_tensors(self) -> None:
        """Recompute the tensors the network keeps as plain attributes, which no state
        dict holds: only the STFT windows (an empty network built them on the meta device).
        Weight norm's derived weights need nothing: its hook remakes them from the
        loaded `weight_g`/`weight_v` before every call, and `optimize` folds them."""
        for module in self.modules():
            if isinstance(module, STFT) and module.window.is_meta:
                module.window = torch.hann_window(module.n_fft, periodic=True, dtype=torch.float32)

    def optimize(self) -> None:
        """Fold weight norm into plain weights, and lay LSTM weights out as the LSTMs
        read them, for inference after loading.

        kokoro wraps its convolutions in the old hook-based
        `torch.nn.utils.weight_norm`, which recomputes every weight from its
        `weight_g`/`weight_v` pair on every call. Afterwards the state dict holds
        plain `weight` tensors instead of the checkpoint's pairs, so call this
        only once the checkpoint is loaded (and checked). Idempotent.

        The checkpoint's tensors become the weights as stored; oneDNN's LSTM needs
        them contiguous and otherwise copies all of them on every call (the fixture
        file stores them transposed: 17 ms of S1's 105 ms text side went to those
        copies).
        """
        for module in self.modules():
            for hook in list(module._forward_pre_hooks.values()):
                if isinstance(hook, WeightNorm):
                    with torch.no_grad():
                        torch.nn.utils.remove_weight_norm(module, hook.name)
            if isinstance(module, torch.nn.LSTM):
                with torch.no_grad():
                    for weight in module.parameters():
                        if not weight.is_contiguous():
                            weight.data = weight.data.contiguous()
                module.flatten_parameters()
