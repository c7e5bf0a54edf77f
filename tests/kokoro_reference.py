"""kokoro's own network on the same checkpoint: the reference our network is checked against.

The server runs its own module definitions (`wyoming_kokoro.models.network`);
these tests build kokoro's `KModel` modules (`kokoro.modules`, `kokoro.istftnet`,
`transformers.AlbertModel`) from the same normalised config, load the same file
and run kokoro's forward pass, for either generation.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from wyoming_kokoro.models.build import VersionBuild
from wyoming_kokoro.models.network import MODULE_NAMES, NOISE_SEED, module_arguments


def reference_network(build: VersionBuild, config_path: Path, checkpoint_path: Path):
    """kokoro's KModel with this generation's weights, in eval mode, weight norm unfolded."""
    from kokoro.istftnet import Decoder
    from kokoro.model import KModel
    from kokoro.modules import CustomAlbert, ProsodyPredictor, TextEncoder
    from transformers import AlbertConfig

    config = build.network_config(json.loads(config_path.read_text(encoding="utf-8")))
    model = KModel.__new__(KModel)  # its constructor downloads from the hub
    torch.nn.Module.__init__(model)
    model.repo_id = None
    model.vocab = {}
    model.bert = CustomAlbert(AlbertConfig(vocab_size=config.n_token, **config.plbert))
    model.bert_encoder = torch.nn.Linear(model.bert.config.hidden_size, config.hidden_dim)
    model.context_length = model.bert.config.max_position_embeddings
    arguments = module_arguments(config)
    model.predictor = ProsodyPredictor(**arguments["predictor"], dropout=config.dropout)
    model.text_encoder = TextEncoder(**arguments["text_encoder"])
    model.decoder = Decoder(**arguments["decoder"])
    states = build.read_checkpoint(checkpoint_path)
    for name in MODULE_NAMES:
        state = {key.removeprefix("module."): value for key, value in states[name].items()}
        if name == "bert":  # a buffer today's ALBERT computes (see models/checkpoint.py)
            state.pop("embeddings.position_ids", None)
        # assign: the file's tensors themselves, strides included, as our loader
        # takes them (the fixtures hold transposed views; a copy would be
        # contiguous and round a few matrix products differently).
        getattr(model, name).load_state_dict(state, strict=True, assign=True)
    return model.eval()


@torch.inference_mode()
def reference_audio(model, token_ids: list[int], style: torch.Tensor, speed: float = 1.0):
    """kokoro's `forward_with_tokens` for one segment, seeded as our passes are."""
    torch.manual_seed(NOISE_SEED)
    audio, _ = model.forward_with_tokens(torch.tensor([[0, *token_ids, 0]]), style, speed)
    return audio.reshape(-1).float()
