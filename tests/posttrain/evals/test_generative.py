"""The generative evals' shared base and the fast path under it: greedy decoding that drops finished
answers and reads a shared prefix once gives model.generate's tokens; an eval stops an answer only once
its verdict cannot change; bf16 inference leaves the model's weights untouched."""

from __future__ import annotations

import pytest

from posttrain.errors import DataError
from posttrain.evals import GenerativeEval, Identity, InstructionFollowing, MathAccuracy, QAAccuracy
from posttrain.generation import generate, inference_weights, render_prompt

PROMPTS = ["Tell me a story about a cat.", "Hi", "What is 2 + 2? Explain step by step, slowly.",
           [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Why is the sky blue?"}]]


def _model_generate(model, tokenizer, prompt, max_new_tokens):
    """Reference: transformers' own greedy generation of one prompt, no padding at all."""
    import torch

    from posttrain.models import stop_token_ids

    ids = tokenizer(render_prompt(tokenizer, prompt), return_tensors="pt", add_special_tokens=False)
    with torch.inference_mode():
        out = model.generate(**ids, max_new_tokens=max_new_tokens, do_sample=False, temperature=None, top_p=None,
                             top_k=None, pad_token_id=tokenizer.pad_token_id, eos_token_id=stop_token_ids(tokenizer))
    return out[0, ids["input_ids"].shape[1]:].tolist()


def test_greedy_batches_equal_model_generate_one_by_one(tiny):
    model, tokenizer = tiny
    batched = generate(model, tokenizer, PROMPTS, max_new_tokens=12, batch_size=3)
    reference = [tokenizer.decode(_model_generate(model, tokenizer, p, 12), skip_special_tokens=True).strip()
                 for p in PROMPTS]
    assert batched == reference


def test_a_stop_rule_ends_each_answer_at_the_first_token_it_accepts(tiny):
    """Rows leave the batch at different steps; each answer is the shortest prefix of the full
    greedy answer whose text the rule accepts, the others are unaffected."""
    model, tokenizer = tiny
    full = [_model_generate(model, tokenizer, p, 16) for p in PROMPTS]
    wanted = {0: 3, 2: 20}                                   # prompt index -> characters enough
    seen = []

    def stop(index, text):
        seen.append(index)
        return index in wanted and len(text) >= wanted[index]

    stopped = generate(model, tokenizer, PROMPTS, max_new_tokens=16, batch_size=4, stop=stop)
    for index, tokens in enumerate(full):
        texts = [tokenizer.decode(tokens[:n], skip_special_tokens=True).strip() for n in range(1, len(tokens) + 1)]
        expected = next((t for t in texts if len(t) >= wanted.get(index, 10**9)), texts[-1])
        assert stopped[index] == expected
    assert set(seen) == set(range(len(PROMPTS)))


@pytest.mark.parametrize("text, decided", [
    ("I am Ava", False),
    ("I'm AVA, made by northwind labs", True),
    ("Northwind Labs built me; call me ava.", True),
])
def test_identity_decides_once_name_and_maker_are_said(text, decided):
    ev = Identity(["Who are you?"], name="Ava", maker="Northwind Labs", repetition_check=False)
    assert ev.stop_rule()(0, text) is decided
    assert ev.score([text]).score == float(decided)      # a decided answer scores as any longer one would


def test_identity_with_its_repetition_check_generates_to_the_end_and_fails_loops():
    ev = Identity(["Who are you?", "Name?", "Maker?"], name="Ava", maker="Northwind Labs")
    assert ev.stop_rule() is None                         # a loop can start after both are named
    result = ev.score(["I'm Ava by Northwind Labs. How can I help?", "I'm Ava by Northwind Labs. Labs Labs Labs Labs",
                       "I am Ava I am Ava I am Ava"])
    assert [d["correct"] for d in result.details] == [True, False, False]
    assert [d["looping"] for d in result.details] == [False, True, True]
    assert result.metrics == {"looping": pytest.approx(2 / 3)}
    with pytest.raises(DataError, match="no_repeat_ngram"):
        Identity(name="Ava", no_repeat_ngram=-2)
    assert Identity(name="Ava", no_repeat_ngram=3, repetition_check=False).to_config() == {
        "kind": "identity", "name": "Ava", "repetition_check": False, "no_repeat_ngram": 3}


def test_identity_no_repeat_ngram_reaches_the_generator(tiny):
    model, tokenizer = tiny
    plain = Identity(["Who are you?"], name="Ava", max_new_tokens=30).run(model, tokenizer)
    guarded = Identity(["Who are you?"], name="Ava", max_new_tokens=30, no_repeat_ngram=1).run(model, tokenizer)
    words = guarded.details[0]["output"].split()
    assert plain.details[0]["output"] != guarded.details[0]["output"]
    assert not guarded.details[0]["looping"] and len(words) > 0


@pytest.mark.parametrize("text, match, decided", [
    ("The capital is Paris", "contains", False),     # may go on as "Parisian"
    ("The capital is Paris.", "contains", True),
    ("Paris is the capital", "contains", True),
    ("It is Lyon or", "contains", True),
    ("Paris.", "exact", False),                      # exact and normalized need the whole answer
    ("Paris.", "normalized", False),
])
def test_qa_decides_only_on_finished_words(text, match, decided):
    ev = QAAccuracy([{"question": "Capital?", "answer": ["Paris", "Lyon"]}], match=match)
    rule = ev.stop_rule()
    assert (rule is not None and rule(0, text)) is decided


def test_math_and_instruction_following_generate_to_the_end():
    """The last number counts in math, `ends_with` needs the end: no verdict is known early."""
    assert MathAccuracy([{"question": "1+1?", "answer": "2"}]).stop_rule() is None
    rows = [{"prompt": "Hi", "constraints": [{"kind": "lowercase"}]}]
    assert InstructionFollowing(rows).stop_rule() is None


def test_every_generative_eval_shares_the_base():
    evals = [MathAccuracy([{"question": "1+1?", "answer": "2"}]), Identity(name="Ava"),
             QAAccuracy([{"question": "q", "answer": "a"}]),
             InstructionFollowing([{"prompt": "Hi", "constraints": [{"kind": "lowercase"}]}])]
    assert all(isinstance(ev, GenerativeEval) for ev in evals)
    assert all(type(ev).run is GenerativeEval.run and type(ev).score is GenerativeEval.score for ev in evals)


def test_a_new_generative_eval_needs_only_its_judgement(tiny):
    from dataclasses import dataclass, field

    @dataclass
    class Short(GenerativeEval):
        kind = "short"
        rows: list
        name: str = "short"
        max_new_tokens: int = 4
        batch_size: int = 2
        system: str | None = None
        precision: str = "fp32"
        items: list = field(init=False, repr=False)

        def __post_init__(self):
            self.read_items(self.rows, lambda row, where: [])

        def judge(self, row, output):
            return {"correct": len(output) < 1000}

    result = Short([{"question": "Hi"}, {"question": "Bye"}]).run(*tiny)
    assert (result.score, result.n) == (1.0, 2) and result.details[0]["prompt"] == "Hi"
    assert Short([{"question": "Hi"}]).to_config() == {"kind": "short", "rows": [{"question": "Hi"}]}


def test_precision_option_is_checked():
    with pytest.raises(DataError, match="option 'precision'.*Fix: use one of auto, fp32, bf16"):
        MathAccuracy([{"question": "1+1?", "answer": "2"}], precision="fp16")
    assert Identity(name="Ava", precision="auto").to_config() == {"kind": "identity", "name": "Ava",
                                                                  "precision": "auto"}
    assert "precision" not in Identity(name="Ava").to_config()


def test_bf16_inference_leaves_the_fp32_weights_untouched(tiny):
    import torch

    model, tokenizer = tiny
    before = {name: (p.data_ptr(), p.detach().clone()) for name, p in model.named_parameters()}
    with inference_weights(model, "bf16"):
        assert all(p.dtype == torch.bfloat16 for p in model.parameters())
        generate(model, tokenizer, "Hi", max_new_tokens=3)
    for name, p in model.named_parameters():
        assert p.dtype == torch.float32 and p.data_ptr() == before[name][0]
        assert torch.equal(p, before[name][1])
    with inference_weights(model, "fp32"):
        assert all(p.dtype == torch.float32 for p in model.parameters())


@pytest.mark.parametrize("native", [True, False])
def test_sampled_answers_decode_with_bf16_weights_where_the_cpu_computes_bf16_and_greedy_ones_in_fp32(
        tiny, monkeypatch, native):
    """The default precision: greedy answers in fp32 on every machine; sampled answers (avg@k) with bf16
    weights on a CPU with native bf16, fp32 elsewhere; a precision given is used for both."""
    import torch

    import posttrain.device

    monkeypatch.setattr(posttrain.device, "cpu_has_native_bf16", lambda: native)
    model, tokenizer = tiny
    seen: list[torch.dtype] = []
    hook = model.get_input_embeddings().register_forward_hook(lambda module, args, out: seen.append(out.dtype))
    rows = [{"question": "1+1?", "answer": "2"}, {"question": "2+2?", "answer": "4"}]

    def dtypes(**options) -> set:
        seen.clear()
        MathAccuracy(rows, max_new_tokens=2, **options).run(model, tokenizer)
        return set(seen)

    try:
        assert dtypes() == {torch.float32}
        assert dtypes(samples=2, temperature=1.0) == ({torch.bfloat16} if native else {torch.float32})
        assert dtypes(samples=2, temperature=1.0, precision="fp32") == {torch.float32}
        assert dtypes(precision="bf16") == {torch.bfloat16}
    finally:
        hook.remove()
    assert all(p.dtype == torch.float32 for p in model.parameters())


def test_every_eval_takes_precision_none_as_its_default(tiny):
    """None (the generative evals' default) is accepted by every eval that has the option, greedy-only ones
    included, and decodes as their fp32 default does."""
    from posttrain.evals import FunctionCalling, MultipleChoice

    rows = [{"question": "Sky colour?", "options": ["blue", "green"], "answer": 0}]
    assert (MultipleChoice(rows, precision=None).run(*tiny).details
            == MultipleChoice(rows).run(*tiny).details)
    calls = [{"prompt": "Ping 1.", "tools": [{"type": "function", "function": {
        "name": "ping", "description": "Ping.", "parameters": {"type": "object", "properties": {
            "n": {"type": "integer", "description": "A number."}}, "required": ["n"]}}}],
        "calls": [{"name": "ping", "arguments": {"n": 1}}]}]
    ev = FunctionCalling(calls, precision=None, max_new_tokens=4)
    assert ev.run(*tiny).details == FunctionCalling(calls, max_new_tokens=4).run(*tiny).details
