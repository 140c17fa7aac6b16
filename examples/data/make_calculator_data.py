"""Write the calculator agent's datasets (deterministic: the same files on every run).

    python examples/data/make_calculator_data.py

| file | rows | used by |
|---|---|---|
| calculator_traces.jsonl | 240 worked tool-use chats, half of them two-step: the question, one `calculator` call with the problem's whole expression (brackets where a sum is shared out), its result, the answer | SFT cold start |
| calculator_train.jsonl | 240 prompts with `answer` and `kind`, half of them two-step | GRPO in the `Calculator` environment |
| calculator_heldout.jsonl | 25 problems of each kind: add, sub, mul, two_step | `ToolEpisodes` and `MathAccuracy` (with and without the tool) |

The held-out problems are written apart from the training ones: their own function, with other names,
other things counted and other phrasings (no template, name or object is shared; the test of the
example checks it), and numbers drawn from another stream.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
SUFFIX = " Give the final answer as a number."
TRACES, PROMPTS = 240, 240

# --- training: names, things and phrasings of their own -----------------------------------------------------

TRAIN_NAMES = ["Ana", "Ben", "Kai", "Ivy", "Noah", "Lena", "Omar", "Zoe", "Leo", "Maya", "Sam", "Mia", "Eli", "Rosa",
               "Finn", "Nora"]
TRAIN_THINGS = ["apples", "cards", "shells", "pencils", "stickers", "marbles", "eggs", "books", "cookies", "toys",
                "stones", "cups", "balloons", "pens"]
# two-step templates cycle through the three shapes of `numbers`: add then share, multiply then take away,
# add then take away (template i has shape i % 3)
TRAIN_TEMPLATES = {
    "add": ["{n} has {a} {t} and buys {b} more. How many {t} does {n} have now?",
            "{n} had {a} {t} and found {b} more. How many {t} does {n} have now?",
            "There are {a} {t} in a box and {n} puts in {b} more. How many {t} are in the box now?",
            "{n} picked {a} {t} in the morning and {b} in the afternoon. How many {t} did {n} pick?",
            "A farm keeps {a} {t} in one barn and {b} in another. How many {t} does the farm keep?",
            "{n} gets {b} {t} from a friend and already had {a}. How many {t} does {n} have?"],
    "sub": ["{n} has {a} {t} and gives {b} away. How many {t} are left?",
            "A shop had {a} {t}. It sold {b}. How many {t} are left?",
            "{n} had {a} {t} and lost {b} of them. How many {t} are left?",
            "{n} needs {a} {t} and already has {b}. How many more {t} does {n} need?",
            "A crate holds {a} {t}. {n} takes {b} out. How many {t} stay in the crate?",
            "{n} had {a} {t}. After giving {b} to a neighbour, how many {t} does {n} keep?"],
    "mul": ["{n} has {a} bags with {b} {t} in each bag. How many {t} does {n} have?",
            "A box holds {a} rows of {b} {t}. How many {t} are in the box?",
            "{n} buys {a} packs of {b} {t}. How many {t} is that?",
            "There are {a} baskets and each basket has {b} {t}. How many {t} are there?",
            "{n} puts {b} {t} on each of {a} shelves. How many {t} are on the shelves?",
            "A teacher hands {b} {t} to each of {a} pupils. How many {t} does the teacher hand out?"],
    "two_step": ["{n} has {a} {t} and buys {b} more, then shares them equally among {c} friends. How many {t} "
                 "does each friend get?",
                 "{n} has {a} bags with {b} {t} in each bag and gives {c} {t} away. How many {t} are left?",
                 "{n} had {a} {t}, found {b} more and then lost {c}. How many {t} does {n} have now?",
                 "{n} has {a} {t} and a friend brings {b} more. They make {c} equal piles. How many {t} are in "
                 "each pile?",
                 "{n} fills {a} trays with {b} {t} each, then {c} {t} fall off. How many {t} stay on the trays?",
                 "{n} starts with {a} {t}, gets {b} more from a cousin and gives {c} to a brother. How many {t} "
                 "does {n} have in the end?",
                 "A class collects {a} {t} and then {b} more. The teacher puts them into {c} equal boxes. How many "
                 "{t} go in each box?",
                 "{n} bakes {a} batches of {b} {t} and eats {c} of them. How many {t} are left?",
                 "{n} had {a} {t}. A friend gave {n} {b} more, and then {n} used {c}. How many {t} are left?",
                 "{n} has {a} {t} and wins {b} more, then divides all of them among {c} children equally. How many "
                 "{t} does each child get?",
                 "A store gets {a} boxes with {b} {t} in each box and sells {c} {t}. How many {t} does the store "
                 "have left?",
                 "There were {a} {t} on a table. {n} added {b} and then took {c} away. How many {t} are on the table "
                 "now?"],
}


def numbers(rng: random.Random, kind: str, template: int) -> tuple[int, int, int, str, int]:
    """(a, b, c, expression, answer) for a problem of `kind` (the two-step kind has three shapes)."""
    c = 0
    if kind == "add":
        a, b = rng.randint(12, 480), rng.randint(12, 480)
        return a, b, c, f"{a} + {b}", a + b
    if kind == "sub":
        a = rng.randint(40, 900)
        b = rng.randint(11, a - 5)
        return a, b, c, f"{a} - {b}", a - b
    if kind == "mul":
        a, b = rng.randint(3, 48), rng.randint(6, 36)
        return a, b, c, f"{a} * {b}", a * b
    if template == 0:                          # add, then share
        c, share = rng.randint(3, 12), rng.randint(6, 40)
        a = rng.randint(5, c * share - 5)
        return a, c * share - a, c, f"({a} + {c * share - a}) / {c}", share
    if template == 1:                          # multiply, then take away
        a, b = rng.randint(3, 24), rng.randint(6, 30)
        c = rng.randint(2, a * b - 1)
        return a, b, c, f"{a} * {b} - {c}", a * b - c
    a, b = rng.randint(20, 400), rng.randint(12, 300)
    c = rng.randint(5, a + b - 1)
    return a, b, c, f"{a} + {b} - {c}", a + b - c


def train_problem(rng: random.Random, kind: str) -> dict:
    template = rng.randrange(len(TRAIN_TEMPLATES[kind]))
    a, b, c, expression, answer = numbers(rng, kind, template % 3)
    text = TRAIN_TEMPLATES[kind][template].format(n=rng.choice(TRAIN_NAMES), a=a, b=b, c=c, t=rng.choice(TRAIN_THINGS))
    return {"prompt": text + SUFFIX, "answer": str(answer), "kind": kind, "expression": expression}


def trace(row: dict, tools: list[dict]) -> dict:
    """A worked tool-use chat: one call with the problem's whole expression (a two-step problem is one
    expression too, "(a + b) / c", so no episode has to decide after a result whether another call is due),
    the call's result, then the answer."""
    from posttrain.tools import calculator

    result = calculator(row["expression"])
    assert result == row["answer"], (row, result)
    call = {"type": "function", "function": {"name": "calculator", "arguments": {"expression": row["expression"]}}}
    return {"messages": [{"role": "user", "content": row["prompt"]},
                         {"role": "assistant", "content": "", "tool_calls": [call]},
                         {"role": "tool", "name": "calculator", "content": result},
                         {"role": "assistant", "content": f"The answer is {result}."}],
            "tools": tools}


# --- held out: written apart (its own names, things, phrasings and number stream) ----------------------------

HELD_NAMES = ["Priya", "Tomas", "Greta", "Yusuf", "Hana", "Diego", "Farah", "Olek"]
HELD_THINGS = ["stamps", "coins", "beads", "tickets", "bottles", "chairs"]
HELD_TEMPLATES = {
    "add": ["On Monday {n} collected {a} {t}; on Tuesday another {b}. What is the total number of {t}?",
            "A library owns {a} {t} and receives a gift of {b} {t}. How many {t} does it own altogether?"],
    "sub": ["{n} started the day with {a} {t} and handed out {b}. How many {t} remain?",
            "Out of {a} {t} in a warehouse, {b} were shipped. How many {t} are still in the warehouse?"],
    "mul": ["Each of {a} tables gets {b} {t}. How many {t} are needed in total?",
            "{n} saves {b} {t} every week for {a} weeks. How many {t} is that in all?"],
    "two_step": ["{n} had {a} {t} and was given {b} more; {n} then split them evenly into {c} groups. How many "
                 "{t} are in one group?",
                 "A club orders {a} crates of {b} {t} each, and {c} of the {t} arrive broken. How many unbroken "
                 "{t} does the club get?",
                 "{n} owned {a} {t}, bought {b} more at a fair and sold {c} afterwards. How many {t} does {n} "
                 "own now?"],
}


def heldout_problem(rng: random.Random, kind: str, template: int) -> dict:
    a, b, c, _, answer = numbers(rng, kind, template if kind == "two_step" else 0)
    text = HELD_TEMPLATES[kind][template].format(n=rng.choice(HELD_NAMES), a=a, b=b, c=c, t=rng.choice(HELD_THINGS))
    return {"question": text + SUFFIX, "answer": str(answer), "kind": kind}


def build() -> dict[str, list[dict]]:
    from posttrain.tools import calculator, tool_schema

    tools = [tool_schema(calculator)]
    train_rng, held_rng = random.Random("calculator-train"), random.Random("calculator-heldout")
    kinds = list(TRAIN_TEMPLATES)
    held, seen = [], set()
    for kind in kinds:
        for i in range(25):
            row = heldout_problem(held_rng, kind, i % len(HELD_TEMPLATES[kind]))
            held.append(row)
            seen.add(row["question"])
    traces, prompts = [], []
    weighted = [*kinds, "two_step", "two_step"]     # two-step problems half of the traces and prompts
    while len(traces) < TRACES or len(prompts) < PROMPTS:
        kind = weighted[(len(traces) if len(traces) < TRACES else len(prompts)) % len(weighted)]
        row = train_problem(train_rng, kind)
        if row["prompt"] in seen:
            continue
        seen.add(row["prompt"])
        if len(traces) < TRACES:
            traces.append(trace(row, tools))
        else:
            prompts.append({"prompt": row["prompt"], "answer": row["answer"], "kind": row["kind"]})
    return {"calculator_traces.jsonl": traces, "calculator_train.jsonl": prompts, "calculator_heldout.jsonl": held}


def main() -> None:
    for name, rows in build().items():
        with open(HERE / name, "w", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps(row) + "\n")
        print(f"{name}: {len(rows)} rows")


if __name__ == "__main__":
    main()
