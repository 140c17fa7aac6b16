"""Types at the seams: what posttrain needs from a tokenizer, a causal language model and its KV cache,
and the JSON shapes rows and records are read and written as.

The model-side types are Protocols, so a transformers object, a test's stub and a wrapper all fit;
functions that *take* a model or tokenizer are annotated with them. Functions that *make* one
(`load_model`) name the concrete transformers class instead.
"""

from __future__ import annotations

from collections.abc import Iterator, KeysView, Sequence
from typing import TYPE_CHECKING, Literal, Protocol, TypeAlias, overload

if TYPE_CHECKING:
    import torch

# --- JSON ------------------------------------------------------------------------------------------------------------

JSONScalar: TypeAlias = "str | int | float | bool | None"
JSONValue: TypeAlias = "JSONScalar | list[JSONValue] | dict[str, JSONValue]"
JSONObject: TypeAlias = "dict[str, JSONValue]"
#: A data row or a record as read from JSON/YAML before it is checked: keys are text, values anything.
Row: TypeAlias = "dict[str, object]"
#: A chat message: {"role": ..., "content": ..., maybe "tool_calls", "weight"}.
Message: TypeAlias = "dict[str, object]"

# --- tokenizer -------------------------------------------------------------------------------------------------------


class Encoded(Protocol):
    """What a tokenizer returns for one text without `return_tensors` (transformers' BatchEncoding)."""

    def __getitem__(self, key: str, /) -> list[int]: ...


class TensorBatch(Protocol):
    """What a tokenizer returns with `return_tensors="pt"`: tensors by name, movable to a device, and
    usable as `**batch` keyword arguments."""

    def __getitem__(self, key: str, /) -> torch.Tensor: ...

    def keys(self) -> KeysView[str]: ...

    def to(self, device: torch.device | str, /) -> TensorBatch: ...


class Tokenizer(Protocol):
    """The part of a Hugging Face tokenizer posttrain uses."""

    chat_template: str | None
    padding_side: str
    pad_token: str | None
    eos_token: str | None
    pad_token_id: int | None
    eos_token_id: int | None
    unk_token_id: int | None

    @overload
    def __call__(self, text: str, /, *, add_special_tokens: bool = ...) -> Encoded: ...

    @overload
    def __call__(self, text: list[str], /, *, return_tensors: Literal["pt"], padding: bool = ...,
                 add_special_tokens: bool = ...) -> TensorBatch: ...

    def apply_chat_template(self, conversation: Sequence[dict[str, object]], /, *, tokenize: Literal[False],
                            add_generation_prompt: bool = ..., tools: list[dict] | None = ...) -> str: ...

    def decode(self, ids: list[int], /, *, skip_special_tokens: bool = ...) -> str: ...

    def convert_tokens_to_ids(self, token: str, /) -> int | None: ...

    def get_vocab(self) -> dict[str, int]: ...

    def add_special_tokens(self, tokens: dict[str, str], /) -> int: ...

    def __len__(self) -> int: ...


# --- model -----------------------------------------------------------------------------------------------------------


class KVCache(Protocol):
    """A transformers `Cache`: the batch operations the batched generator uses."""

    def batch_select_indices(self, indices: torch.Tensor, /) -> None: ...

    def batch_repeat_interleave(self, repeats: int, /) -> None: ...


class CausalLMOutput(Protocol):
    logits: torch.Tensor
    past_key_values: KVCache | None


class GenerationConfig(Protocol):
    pad_token_id: int | None
    eos_token_id: int | list[int] | None


class ModelConfig(Protocol):
    pad_token_id: int | None


class CausalLM(Protocol):
    """The part of a Hugging Face causal language model (`PreTrainedModel`) posttrain calls."""

    config: ModelConfig
    device: torch.device
    dtype: torch.dtype

    def __call__(self, **inputs: object) -> CausalLMOutput: ...

    def forward(self, *args: object, **kwargs: object) -> object: ...

    def generate(self, **inputs: object) -> torch.Tensor: ...

    def parameters(self) -> Iterator[torch.nn.Parameter]: ...

    def train(self, mode: bool = ...) -> object: ...

    def resize_token_embeddings(self, size: int, /) -> object: ...
