"""Kokoro's phoneme BERT (PL-BERT, an ALBERT encoder), without `transformers`.

Kokoro's text side starts with a 12-step ALBERT encoder: one transformer layer
whose weights are shared across all steps. kokoro builds it from
`transformers.AlbertModel`, and importing that brings in `transformers`,
`torch.distributed.tensor`, `torch._dynamo` and `sympy`: measured on the 2-core
dev box, 110 MiB of resident memory and 3.3 s of start-up for a module with 6 M
weights, on a server whose peak target is 1 GB. This is the same network with
the same parameter names (so a checkpoint loads strictly into either), reduced
to what inference needs: one unpadded sequence, no dropout.

tests/test_network.py checks it against `transformers.AlbertModel` on the fixture
weights.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

LAYER_NORM_EPS = 1e-12
"""ALBERT's layer-norm epsilon (`AlbertConfig.layer_norm_eps`)."""

EMBEDDING_SIZE = 128
"""ALBERT's factorised embedding width (`AlbertConfig.embedding_size`); Kokoro keeps the default."""

TOKEN_TYPES = 2
"""Rows of the token-type embedding (`AlbertConfig.type_vocab_size`); only row 0 is used."""


class AlbertEmbeddings(nn.Module):
    """Word + token-type + position embeddings, then layer norm."""

    def __init__(self, vocab_size: int, positions: int) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab_size, EMBEDDING_SIZE)
        self.position_embeddings = nn.Embedding(positions, EMBEDDING_SIZE)
        self.token_type_embeddings = nn.Embedding(TOKEN_TYPES, EMBEDDING_SIZE)
        self.LayerNorm = nn.LayerNorm(EMBEDDING_SIZE, eps=LAYER_NORM_EPS)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        length = input_ids.shape[-1]
        # Token type 0 everywhere and positions 0..n-1, as AlbertModel's buffers give.
        embedded = self.word_embeddings(input_ids) + self.token_type_embeddings.weight[0]
        embedded = embedded + self.position_embeddings.weight[:length]
        return self.LayerNorm(embedded)


class AlbertAttention(nn.Module):
    """Multi-head self-attention with its residual and layer norm."""

    def __init__(self, hidden: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(hidden, hidden)
        self.value = nn.Linear(hidden, hidden)
        self.dense = nn.Linear(hidden, hidden)
        self.LayerNorm = nn.LayerNorm(hidden, eps=LAYER_NORM_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, hidden = x.shape

        def split(projected: torch.Tensor) -> torch.Tensor:
            return projected.view(batch, length, self.heads, -1).transpose(1, 2)

        # No mask: one sequence without padding attends to all of itself.
        context = F.scaled_dot_product_attention(
            split(self.query(x)), split(self.key(x)), split(self.value(x))
        )
        context = context.transpose(1, 2).reshape(batch, length, hidden)
        return self.LayerNorm(x + self.dense(context))


def _gelu_new(x: torch.Tensor) -> torch.Tensor:
    """ALBERT's tanh-approximated GELU, written out as `transformers` does: the same
    rounding, so BERT's output and the durations rounded from it are kokoro's, bit
    for bit (torch's own `gelu(approximate="tanh")` is a few ulps off)."""
    return (
        0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))
    )


class AlbertLayer(nn.Module):
    """Attention, then the feed-forward block (tanh-approximated GELU, ALBERT's gelu_new)."""

    def __init__(self, hidden: int, heads: int, intermediate: int) -> None:
        super().__init__()
        self.attention = AlbertAttention(hidden, heads)
        self.ffn = nn.Linear(hidden, intermediate)
        self.ffn_output = nn.Linear(intermediate, hidden)
        self.full_layer_layer_norm = nn.LayerNorm(hidden, eps=LAYER_NORM_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        attended = self.attention(x)
        fed = self.ffn_output(_gelu_new(self.ffn(attended)))
        return self.full_layer_layer_norm(fed + attended)


class AlbertLayerGroup(nn.Module):
    """ALBERT's layer group; Kokoro's holds a single layer."""

    def __init__(self, hidden: int, heads: int, intermediate: int) -> None:
        super().__init__()
        self.albert_layers = nn.ModuleList([AlbertLayer(hidden, heads, intermediate)])


class AlbertEncoder(nn.Module):
    """The embedding projection and the shared layer, applied `steps` times."""

    def __init__(self, hidden: int, heads: int, intermediate: int, steps: int) -> None:
        super().__init__()
        self.steps = steps
        self.embedding_hidden_mapping_in = nn.Linear(EMBEDDING_SIZE, hidden)
        self.albert_layer_groups = nn.ModuleList([AlbertLayerGroup(hidden, heads, intermediate)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.embedding_hidden_mapping_in(x)
        layer = self.albert_layer_groups[0].albert_layers[0]
        for _ in range(self.steps):
            x = layer(x)
        return x


class Albert(nn.Module):
    """Phoneme ids [1, n] -> contextual features [1, n, hidden] (AlbertModel's last hidden state).

    Built from Kokoro's `plbert` config. The pooler is never used by Kokoro, but the
    checkpoints hold it, so it is kept for a strict load.
    """

    def __init__(self, vocab_size: int, plbert: Mapping[str, Any]) -> None:
        super().__init__()
        hidden = plbert["hidden_size"]
        self.embeddings = AlbertEmbeddings(vocab_size, plbert["max_position_embeddings"])
        self.encoder = AlbertEncoder(
            hidden,
            plbert["num_attention_heads"],
            plbert["intermediate_size"],
            plbert["num_hidden_layers"],
        )
        self.pooler = nn.Linear(hidden, hidden)
        self.hidden_size = hidden

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.encoder(self.embeddings(input_ids))
