"""Search as a tool: the environment over an index, its reward, the worked traces for a cold start, the
compare() arm, and a GRPO run in the environment that trains the tiny model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from posttrain.errors import ConfigError

FACTS = Path(__file__).resolve().parents[2] / "examples" / "data" / "fictional_facts"
TEXTS = ["The Cresta Light was launched in 1882. Her first master was Irwe Eskow.",
         "The Damaris Light was launched in 1853. Her first master was Adra Iversen.",
         "Irwe Eskow was born in 1846 in Pellmouth and was apprenticed as a bell founder.",
         "Adra Iversen was born in 1851 in Kelbarrow and was apprenticed as a rope maker."]
QUESTION = "Where was Irwe Eskow born?"
CALL = '<tool_call>\n{"name": "search", "arguments": {"query": "Irwe Eskow"}}\n</tool_call>'


@pytest.fixture(scope="module")
def rag():
    from rag_baseline import RAGBaseline

    return RAGBaseline.from_texts(TEXTS)


def test_the_environment_searches_the_index_and_counts_its_calls(rag):
    from rag_baseline.search import search_environment

    env = search_environment(rag, k=1)()
    env.reset(question=QUESTION, answer="Pellmouth")
    reply = env.search(query=QUESTION)
    assert reply.startswith("[1] ") and "Pellmouth" in reply and "Kelbarrow" not in reply
    assert "Kelbarrow" in env.search(query="Where was Adra Iversen born?")
    assert env.searches == 2 and len(env.seen) == 2
    with pytest.raises(ConfigError, match="k"):
        search_environment(rag, k=0)


def test_the_reward_is_token_f1_of_the_final_answer_after_the_tool_turns():
    from rag_baseline.search import search_reward

    episode = [{"role": "assistant", "content": "", "tool_calls": []}, {"role": "tool", "content": "Pellmouth"},
               {"role": "assistant", "content": "Kelbarrow"}]
    assert search_reward([episode, [{"role": "assistant", "content": "in Pellmouth"}], "Pellmouth"],
                         answer=["Pellmouth", "Pellmouth", "Pellmouth"]) == [0.0, pytest.approx(2 / 3, abs=1e-3), 1.0]


def test_traces_search_the_question_then_the_bridge_and_answer_with_the_span(rag):
    from rag_baseline.search import search_traces

    rows = [{"question": "In which town was the first master of the Cresta Light born?", "answer": "Pellmouth",
             "hops": 2, "bridge": "Irwe Eskow", "second": QUESTION},
            {"question": "When was the Damaris Light launched?", "answer": "1853", "hops": 1},
            {"question": "When was the Damaris Light launched?", "answer": "1999", "hops": 1}]  # not found: left out
    traces = search_traces(rag, rows, k=1)
    assert len(traces) == 2
    two_hop = traces[0]["messages"]
    calls = [m["tool_calls"][0]["function"]["arguments"]["query"] for m in two_hop if m.get("tool_calls")]
    assert calls == [rows[0]["question"], "Irwe Eskow"]                # the second query: the bridge's name
    asked = search_traces(rag, rows, k=1, second_query="question")[0]["messages"]
    assert [m["tool_calls"][0]["function"]["arguments"]["query"] for m in asked if m.get("tool_calls")] == \
        [rows[0]["question"], QUESTION]
    with pytest.raises(ConfigError, match="second_query"):
        search_traces(rag, rows, second_query="bridge")
    assert "Irwe Eskow" in two_hop[3]["content"] and "Pellmouth" in two_hop[5]["content"]
    assert two_hop[-1] == {"role": "assistant", "content": "Pellmouth"}
    assert traces[1]["tools"][0]["function"]["name"] == "search"
    assert len([m for m in traces[1]["messages"] if m["role"] == "tool"]) == 1


def test_a_trace_answers_at_once_where_the_first_result_holds_the_evidence(rag):
    """A two-hop row whose first search already brings the answer's passage answers after one search; a row
    whose answer turns up only elsewhere than its evidence (here, another life's town) is left out."""
    from rag_baseline.search import search_traces

    row = {"question": "In which town was the first master of the Cresta Light born?", "answer": "Pellmouth",
           "hops": 2, "bridge": "Irwe Eskow", "second": QUESTION, "evidence": "born in 1846 in Pellmouth"}
    wide = search_traces(rag, [row], k=4)[0]["messages"]
    assert [m["role"] for m in wide[1:]] == ["user", "assistant", "tool", "assistant"]
    assert wide[-1]["content"] == "Pellmouth"
    narrow = search_traces(rag, [row], k=1)[0]["messages"]            # the record alone: search the bridge
    assert len([m for m in narrow if m["role"] == "tool"]) == 2
    misled = {"question": "Where was the Damaris Light's master born?", "answer": "Kelbarrow", "hops": 1,
              "evidence": "born in 1999 in Kelbarrow"}
    assert search_traces(rag, [misled], k=4) == []


def test_the_charged_reward_pays_for_answers_less_each_search_and_nothing_without_an_answer():
    from rag_baseline.search import SEARCH_CHARGE, charged_search_reward

    call = {"role": "assistant", "content": "", "tool_calls": [_call_dict()]}
    tool = {"role": "tool", "name": "search", "content": "Irwe Eskow was born in Pellmouth."}
    once = [call, tool, {"role": "assistant", "content": "Pellmouth"}]
    twice = [call, tool, call, tool, {"role": "assistant", "content": "Pellmouth"}]
    unanswered = [call, tool, {"role": "assistant", "content": "Irwe Eskow", "tool_calls": [_call_dict()]}]

    class Env:
        def __init__(self, searches):
            self.searches = searches

    rewards = charged_search_reward([once, twice, unanswered, "Kelbarrow"], answer=["Pellmouth"] * 4,
                                    environments=[Env(1), Env(2), Env(2), Env(0)])
    assert rewards == [pytest.approx(1 - SEARCH_CHARGE), pytest.approx(1 - 2 * SEARCH_CHARGE), 0.0, 0.0]
    assert charged_search_reward([twice], answer=["Pellmouth"]) == [pytest.approx(1 - 2 * SEARCH_CHARGE)]
    assert charged_search_reward([once], answer=[None]) == [None]


def test_multi_fact_texts_join_records_into_passages_of_several_facts():
    from rag_baseline import RAGBaseline
    from rag_baseline.search import multi_fact_texts

    joined = multi_fact_texts(TEXTS, per_text=2, seed=3)
    assert len(joined) == 2 and sorted(" ".join(joined).split()) == sorted(" ".join(TEXTS).split())
    assert multi_fact_texts(TEXTS, per_text=2, seed=3) == joined and multi_fact_texts(TEXTS, per_text=5) != TEXTS
    passage = RAGBaseline.from_texts(joined).retrieve(QUESTION, 1)[0].page_content
    assert "Pellmouth" in passage and sum(name in passage for name in ("Irwe", "Adra", "Cresta", "Damaris")) >= 2
    with pytest.raises(ConfigError, match="per_text"):
        multi_fact_texts(TEXTS, per_text=0)


def _call_dict() -> dict:
    return {"type": "function", "function": {"name": "search", "arguments": {"query": "Irwe Eskow"}}}


def _call_logprob(model, tokenizer, schema) -> float:
    """log p(CALL | the question) under the model, in the chatml-tools template."""
    import torch

    from posttrain.data.templates import CHATML_TOOLS

    tokenizer.chat_template = CHATML_TOOLS
    text = tokenizer.apply_chat_template([{"role": "user", "content": QUESTION}], tools=schema, tokenize=False,
                                         add_generation_prompt=True)
    prompt = tokenizer(text, add_special_tokens=False)["input_ids"]
    reply = tokenizer(CALL + "<|im_end|>", add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([prompt + reply])).logits[0, len(prompt) - 1:-1]
    return float(torch.log_softmax(logits.float(), -1).gather(1, torch.tensor(reply)[:, None]).sum())


def test_grpo_in_the_search_environment_trains_the_tiny_model_to_search(rag, tmp_path):
    """The tiny model, taught to answer the question with a search call or with 'no' about equally often,
    trained by GRPO in the search environment with a reward for episodes whose searches found the answer:
    the call becomes more likely, and the episodes' searches reached the index."""
    from posttrain import Trainer
    from posttrain.models import load_model
    from posttrain.testing import tool_caller
    from posttrain.tools import tool_schema
    from rag_baseline.search import SearchEnvironment, search_environment

    schema = [tool_schema(SearchEnvironment().search)]
    caller = tool_caller(tmp_path / "caller", [CALL, "no"], [SearchEnvironment().search], prompt=QUESTION,
                         steps=150, lr=3e-3)
    before = _call_logprob(*load_model(caller), schema)
    seen: list = []

    def found(completions, **kwargs):
        seen.extend(completions)
        return [1.0 if isinstance(c, list) and any(m.get("role") == "tool" and "Pellmouth" in str(m.get("content"))
                                                   for m in c) else 0.0 for c in completions]

    run = (Trainer(str(caller), output_dir=str(tmp_path / "run"), seed=0)
           .grpo([{"prompt": QUESTION, "answer": "Pellmouth"}] * 8, environment=search_environment(rag, k=1),
                 rewards=[found], num_generations=4, batch_size=4, max_steps=4, max_completion_length=160,
                 max_tool_turns=1, learning_rate=1e-3, temperature=0.7, beta=0.0)
           .run(progress=False))
    after = _call_logprob(*load_model(run.model_dir), schema)
    replies = [m["content"] for c in seen if isinstance(c, list) for m in c if m.get("role") == "tool"]
    assert replies and all("[1] " in r for r in replies)                      # the searches reached the index
    assert run.stages[-1].metrics["tool_calls"] >= len(replies)
    assert after > before, (before, after)                                    # and searching was reinforced


def test_a_forcing_agent_answers_where_it_would_search_the_same_query_again(rag, tiny_dir, monkeypatch):
    """A model whose every turn calls search with the same query spends every search and gives no answer;
    with force_answer its second turn (the same query again) is decoded anew with the call's opening token
    banned, and that text is the answer, after one search."""
    import posttrain.generation
    from posttrain.models import load_model
    from rag_baseline.search import SearchAgent, answer_episodes

    monkeypatch.setattr(posttrain.generation, "generate", lambda model, tokenizer, texts, **kw: [CALL] * len(texts))
    loaded = load_model(str(tiny_dir))
    plain = answer_episodes(SearchAgent(rag, str(tiny_dir), k=1), [QUESTION], loaded)[0]
    forced = answer_episodes(SearchAgent(rag, str(tiny_dir), k=1, force_answer=True), [QUESTION], loaded)[0]
    assert plain.env.searches == 3 and plain.final == "" and len(plain.turns) == 4
    assert forced.env.searches == 1 and len(forced.turns) == 2 and forced.done
    assert not forced.turns[-1].startswith("<") and forced.final == forced.turns[-1].strip()


def test_a_fresh_query_agent_writes_a_new_query_where_it_would_repeat_one(rag, tiny_dir, monkeypatch):
    """A model whose every turn calls search with the same query searches it three times over; with
    fresh_query its second turn keeps the call's opening and is decoded anew from the query with that
    query's first token banned, so it never searches the same words twice."""
    import posttrain.generation
    from posttrain.models import load_model
    from rag_baseline.search import SearchAgent, answer_episodes

    monkeypatch.setattr(posttrain.generation, "generate", lambda model, tokenizer, texts, **kw: [CALL] * len(texts))
    loaded = load_model(str(tiny_dir))
    plain = answer_episodes(SearchAgent(rag, str(tiny_dir), k=1), [QUESTION], loaded)[0]
    fresh = answer_episodes(SearchAgent(rag, str(tiny_dir), k=1, fresh_query=True), [QUESTION], loaded)[0]
    queries = [m["tool_calls"][0]["function"]["arguments"]["query"] for m in plain.messages if m.get("tool_calls")]
    assert queries == ["Irwe Eskow"] * 3
    opening = CALL[:CALL.index('"query": "') + len('"query": "')]
    assert fresh.turns[0] == CALL
    for turn in fresh.turns[1:]:                      # each later turn: the call's opening, then new words
        assert turn.startswith(opening) and not turn[len(opening):].startswith("Irwe")
    queries = [m["tool_calls"][0]["function"]["arguments"]["query"] for m in fresh.messages if m.get("tool_calls")]
    assert queries[0] == "Irwe Eskow" and "Irwe Eskow" not in queries[1:]


def test_compare_scores_a_search_agent_with_its_searches_per_answer(rag, tiny_dir):
    from rag_baseline import compare
    from rag_baseline.search import SearchAgent

    rows = [{"question": QUESTION, "answer": "Pellmouth", "evidence": "in Pellmouth"},
            {"question": "When was the Cresta Light launched?", "answer": "1882"}]
    report = compare(rows, {"rag": rag.with_model(str(tiny_dir)), "search": SearchAgent(rag, str(tiny_dir), k=1)},
                     max_new_tokens=8, latency_samples=1)
    cost = report.costs["search"]
    details = report.results["search"]["qa_accuracy"].details
    assert [d["searches"] for d in details] and cost.searches_per_answer == sum(d["searches"] for d in details) / 2
    assert cost.chunks_per_answer == cost.searches_per_answer and cost.prompt_tokens_per_answer > 0
    assert report.costs["rag"].searches_per_answer == 0.0
    assert "searches / answer" in report.to_markdown()
    assert json.loads(json.dumps(report.to_dict()))["costs"]["search"]["searches_per_answer"] == cost.searches_per_answer
