"""One batched generator for everything that generates: evals, RAG answers, demos.

>>> from posttrain import load_model, generate
>>> model, tokenizer = load_model("default")
>>> generate(model, tokenizer, ["What is the capital of France?"], max_new_tokens=20)
['The capital of France is Paris.']
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Literal, TypedDict, cast

if TYPE_CHECKING:
    import torch

    from posttrain.errors import Problem
    from posttrain.types import CausalLM, KVCache, TensorBatch, Tokenizer

Prompt = str | list[dict]
StopRule = Callable[[int, str], bool]
Precision = Literal["auto", "fp32", "bf16"]
PRECISIONS = ("auto", "fp32", "bf16")


class GenerateOptions(TypedDict, total=False):
    """The `generate` options a caller passes through unchanged (`**generation`)."""

    temperature: float
    top_p: float
    batch_size: int
    chat: bool | None
    seed: int | None
    stop: StopRule | None
    precision: Precision
    no_repeat_ngram: int


def eval_precision(precision: Precision | None, sampled: bool) -> Precision:
    """The precision an eval decodes in: the one it was given; else, for greedy answers, "fp32" (the same
    answers on every machine), and for sampled ones (avg@k, pass@k), "auto": bf16 weights where the CPU
    computes bf16 natively. A sampled answer is a random draw either way: bf16 weights shift each token's
    probability by a rounding (the draws differ from fp32's, their scores within sampling noise) and decode
    about twice as fast on a CPU with AMX (docs/performance.md, "Sampled evals")."""
    if precision is not None:
        return precision
    return "auto" if sampled else "fp32"


def render_prompt(tokenizer: Tokenizer, prompt: Prompt, system: str | None = None, chat: bool | None = None) -> str:
    """The text the model sees for one prompt: its chat template with the assistant turn opened.

    A string prompt becomes one user message; `system`, when given, is put first unless the
    messages already start with a system message. Without a chat template the text is used raw.
    """
    use_chat = bool(getattr(tokenizer, "chat_template", None)) if chat is None else chat
    if not use_chat:
        if isinstance(prompt, str):
            return prompt
        return "\n".join(str(message["content"]) for message in prompt)
    messages: list[dict] = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)
    if system and messages[0].get("role") != "system":
        messages.insert(0, {"role": "system", "content": system})
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def generate(model: CausalLM, tokenizer: Tokenizer, prompts: Sequence[Prompt] | Prompt, *, max_new_tokens: int = 256,
             temperature: float = 0.0, top_p: float = 1.0, batch_size: int = 16, system: str | None = None,
             chat: bool | None = None, seed: int | None = None, stop: StopRule | None = None,
             precision: Precision = "fp32", no_repeat_ngram: int = 0) -> list[str]:
    """Generate one answer per prompt; only the new text is returned, end-of-turn stripped.

    Prompts are strings or chat message lists. They are sorted by length and generated in batches
    (KV cache, `inference_mode`), then returned in the caller's order. Greedy by default
    (`temperature=0`); an answer ends at the end of turn, at `max_new_tokens`, or when
    `stop(prompt_index, text_so_far)` says so (an eval that already knows its verdict). Greedy
    decoding computes nothing twice or for nothing: the text every prompt starts with (the chat
    template's system turn) goes through the model once, and each finished answer leaves its batch.

    `precision`: "fp32" (default) gives the same answers batched or one by one; "auto" decodes with
    bf16 weights on a CPU that multiplies bf16 natively (fp32 elsewhere), "bf16" always. In bf16 a
    greedy answer can differ from fp32's, and with the batch it is in, where two tokens are nearly
    tied. The model's own weights are put back untouched.

    `no_repeat_ngram=n` (> 0) never lets an answer write the same n tokens twice (its own tokens only:
    copying a phrase from the prompt stays free), which rules out the loops a small model can fall
    into ("the the the ...", a sentence said over and over) until `max_new_tokens`.
    """
    import torch

    from posttrain.models import stop_token_ids

    single = isinstance(prompts, str) or (isinstance(prompts, list) and bool(prompts) and isinstance(prompts[0], dict))
    # one prompt (a string or a message list) or a sequence of them: `single` tells which
    items = [cast("Prompt", prompts)] if single else list(cast("Sequence[Prompt]", prompts))
    texts = [render_prompt(tokenizer, p, system, chat) for p in items]
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
    outputs: list[str] = [""] * len(texts)
    if seed is not None:
        torch.manual_seed(seed)
    problem = no_repeat_problem(no_repeat_ngram, "no_repeat_ngram")
    if problem:
        from posttrain.errors import ConfigError

        raise ConfigError(problem)
    stops = stop_token_ids(tokenizer)
    with (torch.inference_mode(), _left_padding(tokenizer), inference_weights(model, precision),
          packed_linears(model, batch_size)):       # packed once for every batch (and the shared prefix)
        if temperature == 0:
            ids = [tokenizer(text, add_special_tokens=False)["input_ids"] for text in texts]
            prefix = shared_prefix(ids)
            cached = prefix_cache(model, prefix)
        for start in range(0, len(order), batch_size):
            chunk = order[start:start + batch_size]
            done = None if stop is None else (lambda row, text: stop(chunk[row], text))
            if temperature > 0:
                batch = tokenizer([texts[i] for i in chunk], return_tensors="pt", padding=True,
                                  add_special_tokens=False).to(model.device)
                new = _sample(model, tokenizer, batch, max_new_tokens, temperature, top_p, stops, done,
                              no_repeat_ngram)
            else:
                rests = [ids[i][len(prefix):] for i in chunk]
                new = _decode(model, tokenizer, rests, len(prefix), cached, max_new_tokens, set(stops), done,
                              no_repeat_ngram)
            for index, tokens in zip(chunk, new):
                outputs[index] = _text(tokenizer, tokens)
    return outputs[0:1] if single else outputs


def _text(tokenizer: Tokenizer, ids: Sequence[int]) -> str:
    return tokenizer.decode(list(ids), skip_special_tokens=True).strip()


def _decode(model: CausalLM, tokenizer: Tokenizer, rests: list[list[int]], prefix: int, cached: KVCache | None,
            max_new_tokens: int, stops: set[int], done: Callable[[int, str], bool] | None, no_repeat: int = 0,
            pick: Callable[[torch.Tensor], torch.Tensor] | None = None, copies: int = 1,
            keep_stop: bool = False) -> list[list[int]]:
    """Decoding of one batch (each prompt less the shared prefix, whose cache is `cached`), dropping each
    row once it has ended (end of turn, `done`, or `max_new_tokens`). Greedy by default: the same tokens
    as `model.generate` with `do_sample=False`; `pick(logits) -> tokens` chooses otherwise (sampling).
    `copies` answers per prompt (rows `i * copies` to `i * copies + copies - 1` answer prompt `i`): each
    prompt goes through the model once and its cache is copied for its answers. `keep_stop`: an answer
    that ends at a stop token keeps it (what a trainer scores), else it is dropped."""
    with packed_linears(model, len(rests) * copies):
        return _decode_rows(model, tokenizer, rests, prefix, cached, max_new_tokens, stops, done, no_repeat, pick,
                            copies, keep_stop)


def _decode_rows(model: CausalLM, tokenizer: Tokenizer, rests: list[list[int]], prefix: int, cached: KVCache | None,
                 max_new_tokens: int, stops: set[int], done: Callable[[int, str], bool] | None, no_repeat: int,
                 pick: Callable[[torch.Tensor], torch.Tensor] | None, copies: int, keep_stop: bool) -> list[list[int]]:
    import torch

    ids, mask = after_prefix(rests, prefix, tokenizer.pad_token_id, model.device)
    logits, cache = forward(model, ids, mask, expanded(cached, len(rests)), keep=1)
    if copies > 1:
        assert cache is not None, "a forward pass with use_cache=True returns its cache"
        logits, mask = logits.repeat_interleave(copies, 0), mask.repeat_interleave(copies, 0)
        cache.batch_repeat_interleave(copies)
    rows = list(range(len(rests) * copies))            # the batch row each live row answers
    new: list[list[int]] = [[] for _ in rows]
    for step in range(max_new_tokens):
        last = logits[:, -1]
        if no_repeat:
            last = _ban_repeats(last, [new[row] for row in rows], no_repeat)
        tokens = last.argmax(-1) if pick is None else pick(last)
        live = []
        for position, (row, token) in enumerate(zip(rows, tokens.tolist())):
            if token in stops:
                if keep_stop:
                    new[row].append(token)
                continue
            new[row].append(token)
            if step + 1 < max_new_tokens and not (done and done(row, _text(tokenizer, new[row]))):
                live.append(position)
        if not live:
            break
        if len(live) < len(rows):
            keep = torch.tensor(live, device=mask.device)
            assert cache is not None, "a forward pass with use_cache=True returns its cache"
            cache.batch_select_indices(keep)
            mask, tokens, rows = mask[keep], tokens[keep], [rows[i] for i in live]
        mask = torch.cat([mask, mask.new_ones(len(rows), 1)], dim=1)
        logits, cache = forward(model, tokens[:, None], mask, cache, keep=1)
    return new


def generate_samples(model: CausalLM, tokenizer: Tokenizer, prompts: Sequence[Prompt], k: int, *,
                     temperature: float = 1.0, top_p: float = 1.0, max_new_tokens: int = 256, batch_size: int = 16,
                     system: str | None = None, chat: bool | None = None, seed: int = 0, stop: StopRule | None = None,
                     precision: Precision = "auto", no_repeat_ngram: int = 0) -> list[list[str]]:
    """`k` sampled answers per prompt, in the prompts' order: what avg@k and pass@k evals score.

    The same decoding as greedy `generate`, with each token drawn from the softmax at `temperature`
    (within the nucleus `top_p`): the text every prompt starts with goes through the model once, each
    prompt once (its cache copied for its k answers), `batch_size` answers decode together and each
    leaves its batch when it ends, so a sample costs about what a greedy answer does. Seeded by a
    generator of its own (`seed`): the same call gives the same samples, and torch's global random
    state is untouched. `stop(prompt_index, text_so_far)` and `no_repeat_ngram` as in `generate`; `precision`
    as there, but "auto" by default (bf16 weights where the CPU computes bf16 natively, see `eval_precision`).

    >>> generate_samples(model, tokenizer, ["Pick a number from 1 to 9."], k=3, temperature=1.0,
    ...                  max_new_tokens=8)                                   # doctest: +SKIP
    [['7', 'I pick 4.', '3']]
    """
    import torch

    from posttrain.models import stop_token_ids

    problem = sampling_problem(k, temperature, top_p) or no_repeat_problem(no_repeat_ngram, "no_repeat_ngram")
    if problem:
        from posttrain.errors import ConfigError

        raise ConfigError(problem)
    texts = [render_prompt(tokenizer, p, system, chat) for p in prompts]
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
    outputs: list[list[str]] = [[] for _ in texts]
    pick = _sampler(temperature, top_p, torch.Generator(device=model.device).manual_seed(seed))
    stops, per_batch = set(stop_token_ids(tokenizer)), max(1, batch_size // k)
    with (torch.inference_mode(), _left_padding(tokenizer), inference_weights(model, precision),
          packed_linears(model, batch_size)):       # packed once for every batch (and the shared prefix)
        ids = [tokenizer(text, add_special_tokens=False)["input_ids"] for text in texts]
        prefix = shared_prefix(ids)
        cached = prefix_cache(model, prefix)
        for start in range(0, len(order), per_batch):
            chunk = order[start:start + per_batch]
            done = None if stop is None else (lambda row, text, chunk=chunk: stop(chunk[row // k], text))
            new = _decode(model, tokenizer, [ids[i][len(prefix):] for i in chunk], len(prefix), cached,
                          max_new_tokens, stops, done, no_repeat_ngram, pick=pick, copies=k)
            for row, tokens in enumerate(new):
                outputs[chunk[row // k]].append(_text(tokenizer, tokens))
    return outputs


def sample_token_ids(model: CausalLM, prompt_ids: Sequence[Sequence[int]], *, max_new_tokens: int,
                     temperature: float, top_p: float, stops: Sequence[int], pad_token_id: int | None,
                     generator: torch.Generator, copies: int = 1) -> list[list[int]]:
    """Sampled continuations of token-id prompts, as a trainer's sampling step wants them: one list of
    new token ids per prompt row, ending with the stop token where the answer stopped.

    The decoding of `generate_samples`: the tokens every prompt starts with go through the model once,
    rows `i * copies` to `i * copies + copies - 1` (the same prompt) share one pass over it, and each
    answer leaves the batch when it ends, so the batch does not wait for its longest answer. Each token
    is drawn from softmax(logits / temperature) within the nucleus `top_p`, as `model.generate` with
    `do_sample=True` draws it (no top-k, min-p or repetition penalty)."""
    import torch

    groups = [list(prompt_ids[i]) for i in range(0, len(prompt_ids), copies)]
    module = cast("torch.nn.Module", model)
    was_training = module.training
    module.eval()
    try:
        with torch.inference_mode():
            prefix = shared_prefix(groups)
            cached = prefix_cache(model, prefix)
            return _decode(model, cast("Tokenizer", _PadOnly(pad_token_id)), [ids[len(prefix):] for ids in groups],
                           len(prefix), cached,
                           max_new_tokens, set(stops), None, pick=_sampler(temperature, top_p, generator),
                           copies=copies, keep_stop=True)
    finally:
        module.train(was_training)


class _PadOnly:
    """What `_decode` reads of a tokenizer when nothing is decoded to text: the pad token."""

    def __init__(self, pad_token_id: int | None) -> None:
        self.pad_token_id = pad_token_id


def sampling_problem(k: object, temperature: object, top_p: object = 1.0) -> Problem | None:
    """The `Problem` with sampling options (None when k >= 1, temperature > 0 and 0 < top_p <= 1)."""
    from posttrain.errors import Problem, short

    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        return Problem("samples", f"is {short(k)}", "give a whole number of answers per prompt >= 1")
    if not isinstance(temperature, (int, float)) or isinstance(temperature, bool) or not temperature > 0:
        return Problem("temperature", f"is {short(temperature)}", "give a temperature > 0 to sample (e.g. 0.9, "
                       "the sampling temperature of the GRPO stage being judged)")
    if not isinstance(top_p, (int, float)) or isinstance(top_p, bool) or not 0 < top_p <= 1:
        return Problem("top_p", f"is {short(top_p)}", "give a number in (0, 1]")
    return None


def _sampler(temperature: float, top_p: float, generator: torch.Generator) -> Callable[[torch.Tensor], torch.Tensor]:
    """`pick(logits) -> tokens`: one token per row drawn from softmax(logits / temperature), restricted to
    the smallest set of tokens whose probability reaches `top_p`."""
    import torch

    def pick(logits: torch.Tensor) -> torch.Tensor:
        return draw(nucleus_probs(logits, temperature, top_p), generator)

    return pick


DRAW_BLOCK = 256    # vocabulary entries a block of the two-stage draw


def draw(probs: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """One token per row with probability proportional to `probs` (rows, vocabulary), in two draws: a block of
    DRAW_BLOCK tokens by its total, then a token within the block. The same distribution as one
    `torch.multinomial` over the whole row (P(block) x P(token | block)), with a few hundred random numbers
    a row instead of one per vocabulary entry (torch's single draw is an argmax over exponential noise):
    16 rows of the default model's 49,152 tokens, 38.8 -> 1.0 ms at one thread."""
    import torch

    rows, vocab = probs.shape
    blocks = torch.nn.functional.pad(probs, (0, -vocab % DRAW_BLOCK)).view(rows, -1, DRAW_BLOCK)
    block = torch.multinomial(blocks.sum(-1), 1, generator=generator).squeeze(-1)
    within = torch.multinomial(blocks[torch.arange(rows, device=probs.device), block], 1,
                               generator=generator).squeeze(-1)
    return block * DRAW_BLOCK + within


def nucleus_probs(logits: torch.Tensor, temperature: float, top_p: float = 1.0) -> torch.Tensor:
    """softmax(logits / temperature) with the tokens past the nucleus `top_p` zeroed (not renormalised):
    the distribution `model.generate(do_sample=True, temperature=..., top_p=...)` draws from."""
    import torch

    probs = torch.softmax(logits.float() / temperature if temperature != 1 else logits.float(), dim=-1)
    if top_p < 1:
        ranked, index = probs.sort(-1, descending=True)
        ranked[ranked.cumsum(-1) - ranked >= top_p] = 0       # tokens past the nucleus
        probs = torch.zeros_like(probs).scatter(-1, index, ranked)
    return probs


def _sample(model: CausalLM, tokenizer: Tokenizer, batch: TensorBatch, max_new_tokens: int, temperature: float,
            top_p: float, stops: list[int], done: Callable[[int, str], bool] | None,
            no_repeat: int = 0) -> list[list[int]]:
    """Sampling through `model.generate` (its seeded random stream, as before), `done` as a stopping rule."""
    options: dict[str, object] = {
        "max_new_tokens": max_new_tokens, "pad_token_id": tokenizer.pad_token_id, "use_cache": True,
        "do_sample": True, "temperature": temperature, "top_p": top_p, "eos_token_id": stops}
    width = batch["input_ids"].shape[1]
    if no_repeat:
        from transformers import LogitsProcessorList

        options["logits_processor"] = LogitsProcessorList([_NoRepeatInAnswer(width, no_repeat)])
    if done is not None:
        from transformers import StoppingCriteriaList

        options["stopping_criteria"] = StoppingCriteriaList([_StopRule(tokenizer, width, done)])
    tokens = model.generate(**batch, **options)
    return [[t for t in row if t not in stops and t != tokenizer.pad_token_id] for row in tokens[:, width:].tolist()]


def no_repeat_problem(value: object, where: str) -> Problem | None:
    """The `Problem` with a `no_repeat_ngram` value (None when it is a whole number >= 0)."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return None
    from posttrain.errors import Problem, short

    return Problem(where, f"is {short(value)}", "give a whole number of tokens >= 0 (0: off; 3 or 4 rule out loops)")


def _ban_repeats(logits: torch.Tensor, answers: Sequence[Sequence[int]], n: int) -> torch.Tensor:
    """`logits` (one row per answer) with -inf on every token that would repeat an n-gram of that answer."""
    banned = [(row, token) for row, answer in enumerate(answers) for token in repeat_completions(answer, n)]
    if not banned:
        return logits
    logits = logits.clone()
    rows, tokens = zip(*banned)
    logits[list(rows), list(tokens)] = float("-inf")
    return logits


def repeat_completions(tokens: Sequence[int], n: int) -> set[int]:
    """The tokens that, written next, would repeat an n-gram already in `tokens`.

    >>> sorted(repeat_completions([5, 6, 7, 5, 6], 3))
    [7]
    """
    if n <= 0 or len(tokens) < n:
        return set()
    if n == 1:
        return set(tokens)
    tail = list(tokens[len(tokens) - n + 1:])
    return {tokens[i + n - 1] for i in range(len(tokens) - n + 1) if list(tokens[i:i + n - 1]) == tail}


class _NoRepeatInAnswer:
    """`no_repeat_ngram` as a transformers logits processor, over the generated tokens only."""

    def __init__(self, width: int, n: int) -> None:
        self.width, self.n = width, n

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        return _ban_repeats(scores, [row[self.width:].tolist() for row in input_ids], self.n)


class _StopRule:
    """`done(row, text)` as a transformers stopping criterion (one verdict per row)."""

    def __init__(self, tokenizer: Tokenizer, width: int, done: Callable[[int, str], bool]) -> None:
        self.tokenizer, self.width, self.done = tokenizer, width, done

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs: object) -> torch.Tensor:
        import torch

        verdicts = [self.done(row, _text(self.tokenizer, ids[self.width:].tolist()))
                    for row, ids in enumerate(input_ids)]
        return torch.tensor(verdicts, dtype=torch.bool, device=input_ids.device)


# --- forward passes with a cache, and a prefix shared by every sequence --------------------------------------------

def forward(model: CausalLM, ids: torch.Tensor, mask: torch.Tensor, cache: KVCache | None,
            keep: int = 0) -> tuple[torch.Tensor, KVCache | None]:
    """`(logits of the last `keep` positions (all when 0), cache)` for `ids` after what `cache` holds.

    `mask` covers the cached positions and `ids`; position ids follow the mask, so padding (left, or
    between a shared prefix and the rest) changes nothing. The cache argument's name is the one place
    that differs across transformers 5.x releases (`past_key_values`, then `cache`)."""
    positions = (mask.long().cumsum(-1) - 1).clamp(min=0)[:, -ids.shape[1]:]
    out = model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True, logits_to_keep=keep,
                **{_cache_argument(model): cache})
    new: KVCache | None = getattr(out, "cache", None)
    return out.logits, new if new is not None else out.past_key_values


def shared_prefix(sequences: Sequence[Sequence[int]]) -> list[int]:
    """The tokens every sequence starts with, leaving at least one token of each after it.

    >>> shared_prefix([[1, 2, 3, 4], [1, 2, 5], [1, 2, 3]])
    [1, 2]
    """
    if not sequences:
        return []
    first, limit, length = sequences[0], min(len(s) for s in sequences) - 1, 0
    while length < limit and all(s[length] == first[length] for s in sequences):
        length += 1
    return list(first[:length])


def prefix_cache(model: CausalLM, prefix: Sequence[int]) -> KVCache | None:
    """The KV cache of `prefix` (one row), or None for an empty prefix."""
    import torch

    if not prefix:
        return None
    ids = torch.tensor([list(prefix)], device=model.device)
    return forward(model, ids, torch.ones_like(ids), None, keep=1)[1]


def expanded(cached: KVCache | None, rows: int) -> KVCache | None:
    """A copy of a one-row prefix cache for `rows` rows (None stays None)."""
    import copy

    if cached is None:
        return None
    cache = copy.deepcopy(cached)
    cache.batch_repeat_interleave(rows)
    return cache


def after_prefix(rests: Sequence[Sequence[int]], prefix: int, pad: int | None,
                 device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """`(ids, mask)` for sequences that follow a cached prefix of `prefix` tokens: left-padded so
    they all end together, the mask covering the prefix too ([prefix ones | pad zeros | ones])."""
    import torch

    width = max(len(r) for r in rests)
    ids = torch.full((len(rests), width), pad if pad is not None else 0, dtype=torch.long)
    mask = torch.zeros((len(rests), prefix + width), dtype=torch.long)
    mask[:, :prefix] = 1
    for row, rest in enumerate(rests):
        ids[row, width - len(rest):] = torch.tensor(list(rest), dtype=torch.long)
        mask[row, prefix + width - len(rest):] = 1
    return ids.to(device), mask.to(device)


def _cache_argument(model: CausalLM) -> str:
    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


# --- linear layers with packed weights -------------------------------------------------------------------------------

@contextmanager
def packed_linears(model: CausalLM, rows: int) -> Iterator[None]:
    """Within the block, each bf16 linear layer on the CPU multiplies with its weight packed once into
    oneDNN's blocked layout (as torch.compile's CPU backend does for frozen weights): for the few rows of a
    decoding step this is up to twice as fast as `F.linear`, which lays the weight out again at every call
    (default model, 16 rows, one thread: the head 23 -> 11 ms, a 576 x 576 projection 0.23 -> 0.07 ms),
    with the same result to the bit (checked on a small layer first; otherwise nothing is packed).
    Packing reads the weights once (~0.4 s for the default model at one thread). fp32 layers are left
    as they are: the packed fp32 product rounds differently, which would change greedy answers.
    `rows`: the batch the products are packed for (a hint; any batch gives the same result). Within a
    block already packed (a whole generation call around its batches), an inner block packs nothing more."""
    import torch

    linears = [m for m in cast("torch.nn.Module", model).modules() if type(m) is torch.nn.Linear
               and m.weight.dtype == torch.bfloat16 and m.weight.device.type == "cpu" and "forward" not in vars(m)]
    packer = _bf16_packer() if linears else None
    if packer is None:
        yield
        return
    packed: dict[int, object] = {}
    try:
        for module in linears:                  # a tied weight (head and embeddings) is packed once
            weight = module.weight.detach()
            if weight.data_ptr() not in packed:
                packed[weight.data_ptr()] = packer[0](weight, rows)
    except RuntimeError:                        # a layout oneDNN does not take: nothing is packed
        packed.clear()
    patched = [module for module in linears if module.weight.data_ptr() in packed]
    for module in patched:
        module.forward = functools.partial(packer[1], packed[module.weight.data_ptr()], module.bias)  # type: ignore[method-assign]
    try:
        yield
    finally:
        for module in patched:
            del module.forward


@functools.cache
def _bf16_packer() -> tuple[Callable[..., object], Callable[..., torch.Tensor]] | None:
    """`(pack(weight, rows), linear(packed, bias, x))` through torch's oneDNN ops, or None where they are
    missing or do not give `F.linear`'s bits. The one place that reaches torch's private oneDNN ops
    (`torch.ops.mkldnn._reorder_linear_weight`, `_linear_pointwise`; checked on torch 2.13)."""
    import torch

    try:
        ops = torch.ops.mkldnn
        pack, pointwise = ops._reorder_linear_weight, ops._linear_pointwise
        if not torch.backends.mkldnn.is_available():
            return None

        def linear(weight: object, bias: torch.Tensor | None, x: torch.Tensor) -> torch.Tensor:
            return cast("torch.Tensor", pointwise(x.contiguous(), weight, bias, "none", [], ""))

        generator = torch.Generator().manual_seed(0)
        w = torch.randn(96, 64, generator=generator).to(torch.bfloat16)
        b = torch.randn(96, generator=generator).to(torch.bfloat16)
        x = torch.randn(3, 1, 64, generator=generator).to(torch.bfloat16)
        with torch.inference_mode():
            if not (torch.equal(linear(pack(w, 3), None, x), torch.nn.functional.linear(x, w))
                    and torch.equal(linear(pack(w, 3), b, x), torch.nn.functional.linear(x, w, b))):
                return None
    except (AttributeError, RuntimeError):
        return None
    return pack, linear


# --- inference precision --------------------------------------------------------------------------------------------

def bf16_inference(model: CausalLM, precision: Precision = "auto") -> bool:
    """Whether to run inference with bf16 weights: asked for, or "auto" on a CPU that multiplies bf16 in
    hardware (AMX or AVX512-BF16), where it is about twice as fast; never on GPU under "auto" (its
    own dtype is kept) nor for a model that is not fp32. `POSTTRAIN_CPU_BF16=0` makes "auto" fp32 on any CPU."""
    import torch

    if precision not in PRECISIONS:
        raise ValueError(f"precision {precision!r} is not one of {', '.join(PRECISIONS)}. Fix: use 'auto' "
                         "(bf16 where the CPU computes it natively), 'fp32' or 'bf16'")
    if precision == "fp32" or getattr(model, "dtype", None) != torch.float32:
        return False
    if precision == "bf16":
        return True
    from posttrain.device import cpu_has_native_bf16, sample_in_bf16

    return sample_in_bf16(precision, getattr(model, "device", torch.device("cpu")).type, cpu_has_native_bf16())


@contextmanager
def inference_weights(model: CausalLM, precision: Precision = "auto") -> Iterator[None]:
    """Within the block, the model's fp32 weights are bf16 copies when `bf16_inference` says so; the
    original tensors (and any optimizer state pointing at them) are restored untouched afterwards."""
    if not bf16_inference(model, precision):
        yield
        return
    with bf16_weights(model):
        yield


@contextmanager
def bf16_weights(model: CausalLM) -> Iterator[None]:
    """Within the block, every fp32 weight's `.data` is a bf16 copy; the original tensors (and any optimizer
    state pointing at them) are restored untouched afterwards. Inference here and GRPO's sampling use it."""
    import torch

    saved = [(p, p.data) for p in model.parameters() if p.dtype == torch.float32]
    for tensor, data in saved:
        tensor.data = data.to(torch.bfloat16)
    try:
        yield
    finally:
        for tensor, data in saved:
            tensor.data = data


class _left_padding:
    """Pad on the left while generating (the new tokens must follow the prompt directly)."""

    def __init__(self, tokenizer: Tokenizer) -> None:
        self.tokenizer, self.side = tokenizer, tokenizer.padding_side

    def __enter__(self) -> None:
        self.tokenizer.padding_side = "left"

    def __exit__(self, *exc: object) -> None:
        self.tokenizer.padding_side = self.side
