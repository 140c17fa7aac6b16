"""Padding-free batches with exact attention.

A batch's rows are laid end to end in one sequence (TRL's `padding_free` collator: `position_ids`
restart at 0 for each row, and `cu_seq_lens_q` marks where each row starts), so no token of the
batch is padding. Attention must then keep each row to itself: `ATTENTION` ("posttrain_varlen"),
registered through transformers' `AttentionInterface`, runs PyTorch's scaled-dot-product attention
once per row with a causal mask, exactly what the row gets alone, at the cost of the rows' own
lengths (sum of n_i^2) rather than the whole sequence's (N^2) a block-diagonal mask would compute.
Anything else (a padded batch, generation with a KV cache) goes to transformers' own SDPA path.

The loss per row equals the padded computation's within floating-point tolerance (a test checks it
on the tiny model); the linear layers see only real tokens, whatever the rows' lengths and order,
so rows need not be grouped by length and keep the order the trainer's sampler gives them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

ATTENTION = "posttrain_varlen"


def varlen_attention(module: torch.nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                     attention_mask: torch.Tensor | None, dropout: float = 0.0, scaling: float | None = None,
                     is_causal: bool | None = None, **kwargs: Any) -> tuple[torch.Tensor, None]:
    """Attention of a packed sequence (batch 1, rows delimited by `cu_seq_lens_q`), row by row; any
    other call goes to transformers' SDPA attention unchanged. Returns (batch, length, heads, dim)."""
    import torch
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    bounds = kwargs.get("cu_seq_lens_q")
    length = query.shape[2]
    if bounds is None or query.shape[0] != 1 or key.shape[2] != length or is_causal is False:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      is_causal=is_causal, **kwargs)
    edges = [int(b) for b in bounds.tolist()]
    gqa = getattr(module, "num_key_value_groups", 1) > 1
    pieces = []
    for start, end in zip(edges[:-1], edges[1:]):
        if end > start:
            pieces.append(torch.nn.functional.scaled_dot_product_attention(
                query[:, :, start:end], key[:, :, start:end], value[:, :, start:end], dropout_p=dropout,
                scale=scaling, is_causal=True, enable_gqa=gqa))
    output = pieces[0] if len(pieces) == 1 else torch.cat(pieces, dim=2)
    return output.transpose(1, 2).contiguous(), None


def register() -> str:
    """Register `ATTENTION` with transformers (its attention function and, for calls that are not
    packed, SDPA's mask) and return its name; idempotent."""
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, sdpa_mask

    AttentionInterface.register(ATTENTION, varlen_attention)
    ALL_MASK_ATTENTION_FUNCTIONS.register(ATTENTION, sdpa_mask)
    return ATTENTION


def use_varlen_attention(model: Any) -> bool:
    """Switch `model` (a transformers model using the functional attention interface) to the
    row-by-row attention; False, leaving the model as it was, when the model cannot take it."""
    register()
    setter = getattr(model, "set_attn_implementation", None)
    if setter is None:
        return False
    try:
        setter(ATTENTION)
    except (ValueError, ImportError):
        return False
    return getattr(model.config, "_attn_implementation", None) == ATTENTION
