"""The schema-reading recipe (tool-use chats over hundreds of generated tools) and the held-out set of
unseen tools the function-calling example is scored on."""

from __future__ import annotations

import copy
import importlib.util
import json
import re
from collections import Counter
from pathlib import Path

import pytest
from tests.posttrain.data.test_tools import check_exact_mask, trained

from posttrain.data import DataFormat, load_data
from posttrain.data.schema_reading import DOMAINS, schema_reading_chats, schema_reading_tools
from posttrain.data.templates import CHATML_TOOLS
from posttrain.errors import DataError
from posttrain.evals.function_calling import FunctionCalling, category_of

DATA = Path(__file__).resolve().parents[3] / "examples" / "data"
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def read(name: str) -> list[dict]:
    return [json.loads(line) for line in (DATA / name).read_text(encoding="utf-8").splitlines() if line.strip()]


def generator():
    spec = importlib.util.spec_from_file_location("make_schema_data", DATA / "make_schema_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def calls_of(row: dict) -> list[dict]:
    return [{"name": c["function"]["name"], "arguments": json.loads(c["function"]["arguments"])}
            for m in row["messages"] for c in m.get("tool_calls") or []][:2]


def said(value: object) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in said(v)]
    if isinstance(value, list):
        return [s for v in value for s in said(v)]
    return [f"{value:g}" if isinstance(value, float) else str(value)]


def check_call(call: dict, schema: dict, text: str) -> set[str]:
    """The call fits its schema (names, types, enums, dates, required) and the request says each value;
    returns the kinds of parameters it used."""
    params = schema["parameters"]
    props, kinds = params["properties"], set()
    assert set(params["required"]) <= set(call["arguments"]) <= set(props), (call, schema)
    for name, value in call["arguments"].items():
        prop = props[name]
        kinds.add("enum" if "enum" in prop else "date" if "YYYY-MM-DD" in prop["description"] else prop["type"])
        if name not in params["required"]:
            kinds.add("optional")
        assert {"string": str, "integer": int, "number": float, "object": dict, "array": list}[prop["type"]] is type(value)
        assert "enum" not in prop or value in prop["enum"]
        assert "YYYY-MM-DD" not in prop["description"] or DATE.match(value)
        for part in said(value):
            assert part.lower() in text.lower(), (part, text)
    return kinds


def test_recipe_rows_are_deterministic_and_cover_every_kind():
    rows = schema_reading_chats(160, seed=0)
    assert rows == schema_reading_chats(160, seed=0) and rows != schema_reading_chats(160, seed=1)
    assert len({json.dumps(r["messages"][:2]) for r in rows}) == 160
    assert set(Counter(r["category"] for r in rows)) == {"simple", "multiple", "parallel", "irrelevance"}
    kinds: set[str] = set()
    for row in rows:
        offered = {t["function"]["name"]: t["function"] for t in row["tools"]}
        calls = calls_of(row)
        assert category_of(calls, row["tools"]) == row["category"], row
        assert row["messages"][0]["role"] == "user" and row["messages"][-1]["role"] == "assistant"
        for call in calls:
            kinds |= check_call(call, offered[call["name"]], row["messages"][0]["content"])
    assert kinds >= {"string", "enum", "integer", "number", "date", "object", "array", "optional"}
    tools = schema_reading_tools()
    assert len(tools) >= 200 and len({t.name for t in tools}) == len(tools)
    assert len({t["function"]["name"] for r in rows for t in r["tools"]}) > 100


def test_recipe_invents_free_text_values_so_they_are_copied_not_recalled():
    known = {str(v) for t in schema_reading_tools() for q in (t.key, *t.params) if isinstance(q.values, list)
             for v in q.values}
    known |= {str(v) for t in schema_reading_tools() for q in t.params if isinstance(q.values, dict)
              for inner in q.values.values() for v in inner.values}
    free = []
    for row in schema_reading_chats(240, seed=0):
        offered = {t["function"]["name"]: t["function"] for t in row["tools"]}
        for call in calls_of(row):
            props = offered[call["name"]]["parameters"]["properties"]
            for name, value in call["arguments"].items():
                if props[name]["type"] == "array":
                    free += value
                elif props[name]["type"] == "string" and "enum" not in props[name] and not DATE.match(value) \
                        and not re.match(r"^\d\d:\d\d$", value):
                    free.append(value)
    invented = [v for v in free if v not in known]
    assert 0.3 < len(invented) / len(free) < 0.7, (len(invented), len(free))      # about half (INVENTED_SHARE)
    assert len(set(invented)) > 0.8 * len(invented)                                   # each row its own


def test_recipe_requests_give_most_optional_arguments():
    given = []
    for row in schema_reading_chats(240, seed=0):
        offered = {t["function"]["name"]: t["function"] for t in row["tools"]}
        for call in calls_of(row):
            params = offered[call["name"]]["parameters"]
            given += [name in call["arguments"] for name in params["properties"] if name not in params["required"]]
    assert len(given) > 100 and 0.55 < sum(given) / len(given) < 0.75, (sum(given), len(given))   # OPTIONAL_SHARE


def test_recipe_count_and_seed_are_checked():
    with pytest.raises(DataError, match=r"schema_reading_chats, argument 'count': is 0.*whole number"):
        schema_reading_chats(0)
    with pytest.raises(DataError, match=r"argument 'seed': is '1'"):
        schema_reading_chats(4, seed="1")


def test_heldout_tools_and_domains_never_appear_in_training():
    train, heldout = read("tools_schemas_train.jsonl"), read("tools_unseen_heldout.jsonl")
    trained_names = {t["function"]["name"] for r in train for t in r["tools"]} | {t.name for t in schema_reading_tools()}
    heldout_names = {t["function"]["name"] for r in heldout for t in r["tools"]}
    assert len(heldout_names) >= 15 and trained_names.isdisjoint(heldout_names), trained_names & heldout_names
    train_text = (DATA / "tools_schemas_train.jsonl").read_text(encoding="utf-8")
    assert not [name for name in heldout_names if name in train_text]
    heldout_domains = {r["domain"] for r in heldout}
    assert len(heldout_domains) >= 6 and heldout_domains.isdisjoint(DOMAINS)
    assert not [d for d in heldout_domains if d in train_text]
    train_prompts = {r["messages"][0]["content"] for r in train}
    assert train_prompts.isdisjoint({r["prompt"][0]["content"] for r in heldout})


def test_heldout_rows_are_scorable_by_category_and_say_their_values():
    heldout = read("tools_unseen_heldout.jsonl")
    ev = FunctionCalling(heldout)
    assert Counter(item["category"] for item in ev.items) == {"simple": 24, "multiple": 40, "parallel": 24,
                                                              "irrelevance": 32}
    for row in heldout:
        assert category_of(row["calls"], row["tools"]) == row["category"]
        offered = {t["function"]["name"]: t["function"] for t in row["tools"]}
        for call in row["calls"]:
            check_call(call, offered[call["name"]], row["prompt"][0]["content"])
    right = ['\n'.join(f'<tool_call>{json.dumps(c)}</tool_call>' for c in reversed(r["calls"])) for r in heldout]
    assert ev.score(right).score == 1.0                                       # parallel calls in any order


def test_committed_files_are_what_the_generator_writes():
    for name, rows in generator().build().items():
        assert read(name) == rows, f"{name} differs from make_schema_data.py's output: rerun it"


def test_recipe_rows_load_and_mask_exactly(tiny):
    tokenizer = copy.deepcopy(tiny[1])
    tokenizer.chat_template = CHATML_TOOLS
    data = load_data(schema_reading_chats(12, seed=3))
    assert data.format is DataFormat.MESSAGES
    for row in data.rows:
        tokens = check_exact_mask(tokenizer, row)
        text = trained(tokenizer, tokens)
        assert ("<tool_call>" in text) == any(m.get("tool_calls") for m in row["messages"])
        assert '{"status": "ok"}' not in text                                   # tool results masked
