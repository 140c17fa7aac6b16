"""Helpers for testing code that uses posttrain: a tiny random model with the real tokenizer.

Not for training anything real: the weights are random. Tests and docstring examples use it because it
loads in a fraction of a second and runs the same code paths as the real model.

>>> from posttrain.testing import tiny_model
>>> model, tokenizer = tiny_model()
>>> model.config.num_hidden_layers
2
"""

from __future__ import annotations

from typing import Any

from posttrain.models import DEFAULT_MODEL, fix_tokenizer, load_tokenizer


def tiny_model(num_layers: int = 2, hidden_size: int = 64, seed: int = 0, tokenizer: Any = None):
    """A randomly initialised Llama-style model with the default model's real tokenizer and chat
    template: fast enough for unit tests, same code paths as the real thing."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = tokenizer or load_tokenizer(DEFAULT_MODEL)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=hidden_size, num_hidden_layers=num_layers,
                         num_attention_heads=4, num_key_value_heads=2, intermediate_size=hidden_size * 2,
                         max_position_embeddings=1024, tie_word_embeddings=True,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    fix_tokenizer(model, tokenizer)
    return model.eval(), tokenizer


# transformers config class and the sizes that differ from Llama's, per family GGUF export supports
FAMILY_CONFIGS: dict[str, tuple[str, dict[str, Any]]] = {
    "LlamaForCausalLM": ("LlamaConfig", {"rope_parameters": {"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0,
                                                            "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                                            "original_max_position_embeddings": 64}}),
    "MistralForCausalLM": ("MistralConfig", {"tie_word_embeddings": False, "sliding_window": None}),
    "Qwen2ForCausalLM": ("Qwen2Config", {}),                                     # q/k/v biases
    "Qwen3ForCausalLM": ("Qwen3Config", {"head_dim": 32}),                       # head_dim apart from hidden/heads
    "Gemma2ForCausalLM": ("Gemma2Config", {"head_dim": 16, "query_pre_attn_scalar": 16, "sliding_window": 8,
                                           "attn_logit_softcapping": 50.0, "final_logit_softcapping": 30.0}),
    "Gemma3ForCausalLM": ("Gemma3TextConfig", {"head_dim": 16, "query_pre_attn_scalar": 16, "sliding_window": 8,
                                               "layer_types": ["sliding_attention", "full_attention"] * 3,
                                               "final_logit_softcapping": 30.0}),
    "Phi3ForCausalLM": ("Phi3Config", {"tie_word_embeddings": False}),           # fused qkv and gate_up
}


def tiny_family_model(architecture: str, num_layers: int = 2, hidden_size: int = 64, seed: int = 0,
                      tokenizer: Any = None):
    """A randomly initialised model of one architecture (`FAMILY_CONFIGS`: Llama with Llama 3 RoPE scaling,
    Mistral, Qwen2, Qwen3, Gemma 2, Gemma 3, Phi-3) with the default model's tokenizer, its weights scaled up
    so that greedy tokens differ clearly between positions: proves a converter's tensor layout."""
    import torch
    import transformers

    tokenizer = tokenizer or load_tokenizer(DEFAULT_MODEL)
    config_name, extra = FAMILY_CONFIGS[architecture]
    if "layer_types" in extra:
        extra = {**extra, "layer_types": extra["layer_types"][:num_layers]}
    config = getattr(transformers, config_name)(
        vocab_size=len(tokenizer), hidden_size=hidden_size, num_hidden_layers=num_layers, num_attention_heads=4,
        num_key_value_heads=2, intermediate_size=hidden_size * 2, max_position_embeddings=1024,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
        **{"tie_word_embeddings": True, **extra})
    config.architectures = [architecture]
    torch.manual_seed(seed)
    model = getattr(transformers, architecture)(config)
    with torch.no_grad():                       # random norms too: a converter that drops a norm shift shows
        for name, param in model.named_parameters():
            if name.endswith("norm.weight"):
                param.normal_(0.0 if config_name.startswith("Gemma") else 1.0, 0.3)
            elif name.endswith("bias"):
                param.normal_(0.0, 0.5)
            else:
                param.normal_(0.0, 0.08)
    fix_tokenizer(model, tokenizer)
    return model.eval(), tokenizer


SENTENCEPIECE_TEXT = (
    "The quick brown fox jumps over the lazy dog. What is two plus three? Name a colour, then write a haiku "
    "about the sea. Who are you? I am a helpful assistant. List three fruits: apples, pears and plums. "
    "Numbers like 12345 and 3.14 appear in maths; so do words such as addition, subtraction and answer. "
    "Please explain photosynthesis in one sentence, and say which day comes after Monday. ")


def sentencepiece_tokenizer(vocab_size: int = 400, space_prefix: bool = True):
    """A small SentencePiece-style tokenizer as transformers stores Llama 2's, Mistral's, Gemma's and Phi-3's:
    BPE with byte fallback (`<0x00>`..`<0xFF>`), "▁" for spaces (and before each piece of text between special
    tokens when `space_prefix`, as Llama 2's and Mistral's legacy tokenizers; Gemma puts none), merges ordered by the merged piece's rank as transformers'
    SentencePiece conversion orders them, `<s>` added first, and ChatML's turn tokens with the default
    model's chat template. For checking a converter's SentencePiece path without downloading one."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<unk>", "<s>", "</s>"] + [f"<0x{i:02X}>" for i in range(256)]
    draft = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True))
    if space_prefix:      # as Llama 2's and Mistral's (legacy) tokenizers: "▁" before each piece of text
        draft.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always", split=False)
    else:                 # as Gemma: spaces become "▁", nothing is put first
        draft.normalizer = normalizers.Replace(" ", "\u2581")
    draft.train_from_iterator([SENTENCEPIECE_TEXT] * 4, trainers.BpeTrainer(
        vocab_size=len(specials) + vocab_size, special_tokens=specials, show_progress=False))
    vocab = draft.get_vocab()
    merges = sorted(((token[:i], token[i:], index) for token, index in vocab.items() if index >= len(specials)
                     for i in range(1, len(token)) if token[:i] in vocab and token[i:] in vocab),
                    key=lambda m: (m[2], vocab[m[0]], vocab[m[1]]))
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[(a, b) for a, b, _ in merges], unk_token="<unk>",
                                   byte_fallback=True, fuse_unk=True))
    backend.normalizer, backend.pre_tokenizer = draft.normalizer, draft.pre_tokenizer
    backend.decoder = decoders.Sequence([decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse(),
                                         *([decoders.Strip(" ", 1, 0)] if space_prefix else [])])
    backend.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B",
                                                           special_tokens=[("<s>", 1)])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                        pad_token="<unk>")
    tokenizer.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
    tokenizer.chat_template = load_tokenizer(DEFAULT_MODEL).chat_template
    return tokenizer


def tool_caller(folder: Any, replies: list[str], tools: list[Any], prompt: str = "ping", steps: int = 80,
                lr: float = 1e-2,
                seed: int = 1) -> Any:
    """The tiny model taught to answer `prompt` with each of `replies` equally often (tool calls written as
    the `chatml-tools` template writes them), saved with that template in `folder`: a model that calls
    tools in multi-turn tests. Plain next-token training on the replies' tokens, summed so that each reply
    weighs the same whatever its length. Returns `folder`."""
    import torch

    from posttrain.data.templates import CHATML_TOOLS

    model, tokenizer = tiny_model(seed=seed)
    tokenizer.chat_template = CHATML_TOOLS
    text = tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tools=tools, tokenize=False,
                                         add_generation_prompt=True)
    prompt_ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    batch = []
    for reply in replies:
        ids = tokenizer(reply + "<|im_end|>", add_special_tokens=False)["input_ids"]
        batch.append((torch.tensor([prompt_ids + ids]), torch.tensor(ids), len(prompt_ids)))
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    torch.manual_seed(seed)
    model.train()
    for _ in range(steps):
        loss = torch.stack([torch.nn.functional.cross_entropy(model(input_ids=x).logits[0, start - 1:-1], y,
                                                              reduction="sum") for x, y, start in batch]).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.train(False)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
