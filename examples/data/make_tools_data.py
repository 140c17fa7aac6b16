"""Write the five-tool function-calling data (deterministic: the same files on every run). The
function-calling example now trains on the schema-reading recipe (`make_schema_data.py`); these files
stay as a small tool-call dataset of five familiar tools (the advisor's tests read them).

    python examples/data/make_tools_data.py      # rewrites examples/data/tools_*.jsonl

| file | rows | used by |
|---|---|---|
| tools_train.jsonl | OpenAI-style chats: `messages` with assistant `tool_calls` (arguments as JSON text), `tool` results and the final answer, plus a `tools` column; some requests need no tool and are answered directly | SFT on five tools |
| tools_heldout.jsonl | `prompt` (the user's turn), `tools`, and the expected `calls` (name + arguments; [] when no tool fits) | FunctionCalling |

Each row offers three of the five tools (the right one among them, in random order), so a call must pick
the function as well as fill its arguments. The held-out rows draw their argument values (cities,
currencies, amounts, people, dates, labels) and their no-tool questions from pools the training rows never
use, so no held-out prompt or call appears in training; `tests/posttrain/data/test_function_calling.py` checks it.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEED = 11


def schema(name: str, description: str, properties: dict, required: list[str]) -> dict:
    return {"type": "function", "function": {"name": name, "description": description, "parameters": {
        "type": "object", "properties": properties, "required": required}}}


TOOLS = {
    "get_weather": schema("get_weather", "Current weather in a city.",
                          {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
                          ["city"]),
    "convert_currency": schema("convert_currency", "Convert an amount of money between currencies.",
                               {"amount": {"type": "number"}, "from_currency": {"type": "string"},
                                "to_currency": {"type": "string"}}, ["amount", "from_currency", "to_currency"]),
    "set_timer": schema("set_timer", "Start a countdown timer.",
                        {"minutes": {"type": "integer"}, "label": {"type": "string"}}, ["minutes"]),
    "find_flights": schema("find_flights", "Search flights between two cities on a date.",
                           {"origin": {"type": "string"}, "destination": {"type": "string"},
                            "date": {"type": "string", "description": "YYYY-MM-DD"}}, ["origin", "destination", "date"]),
    "send_email": schema("send_email", "Send a short email.",
                         {"to": {"type": "string"}, "subject": {"type": "string"}}, ["to", "subject"]),
}

# Value pools: (training, held-out), disjoint.
CITIES = (["Paris", "Rome", "Oslo", "Madrid", "Lisbon", "Vienna", "Prague", "Dublin", "Athens", "Berlin",
           "Warsaw", "Zurich", "Helsinki", "Budapest"],
          ["Tokyo", "Lima", "Cairo", "Toronto", "Nairobi", "Seoul", "Denver", "Hanoi"])
CURRENCIES = (["EUR", "USD", "GBP", "JPY", "CHF", "CAD"], ["AUD", "SEK", "INR", "NZD"])
AMOUNTS = ([20, 45, 75, 120, 250, 300, 640, 1000], [35, 90, 180, 420, 999])
MINUTES = ([3, 5, 10, 12, 15, 25, 40], [7, 18, 30, 50])
LABELS = (["tea", "pasta", "laundry", "eggs", "bread"], ["rice", "yoga", "pizza"])
PEOPLE = (["anna@example.com", "ben@example.com", "carla@example.com", "dev@example.com"],
          ["erik@example.com", "fatima@example.com", "gus@example.com"])
SUBJECTS = (["Lunch tomorrow", "Project update", "Invoice", "Weekend plans"], ["Team offsite", "Book club"])
DATES = (["2025-03-14", "2025-04-02", "2025-05-20", "2025-06-11", "2025-07-08"],
         ["2025-09-03", "2025-10-21", "2025-11-15"])

REQUESTS = {
    "get_weather": ["What's the weather in {city}?", "How warm is it in {city} right now?",
                    "Weather in {city} in {unit}, please.", "Is it raining in {city}?"],
    "convert_currency": ["Convert {amount} {from_currency} to {to_currency}.",
                         "How much is {amount} {from_currency} in {to_currency}?"],
    "set_timer": ["Set a timer for {minutes} minutes.", "Start a {minutes} minute timer for the {label}.",
                  "Remind me in {minutes} minutes about the {label}."],
    "find_flights": ["Find flights from {origin} to {destination} on {date}.",
                     "Any flights {origin} to {destination} on {date}?"],
    "send_email": ["Email {to} with the subject '{subject}'.", "Send {to} an email titled '{subject}'."],
}
RESULTS = {
    "get_weather": lambda a: ('{"temperature": 18, "conditions": "sunny"}', f"It is 18 degrees and sunny in {a['city']}."),
    "convert_currency": lambda a: ('{"result": 123.45}', f"{a['amount']} {a['from_currency']} is 123.45 {a['to_currency']}."),
    "set_timer": lambda a: ('{"ok": true}', f"Timer set for {a['minutes']} minutes."),
    "find_flights": lambda a: ('{"flights": 3}', f"I found 3 flights from {a['origin']} to {a['destination']}."),
    "send_email": lambda a: ('{"sent": true}', f"Email sent to {a['to']}."),
}
NO_TOOL = ([("What is 7 times 8?", "7 times 8 is 56."), ("Who wrote Hamlet?", "William Shakespeare wrote Hamlet."),
            ("Say hello in Spanish.", "Hola!"), ("What is the capital of Italy?", "The capital of Italy is Rome."),
            ("How many legs does a spider have?", "A spider has eight legs."),
            ("Tell me a synonym for happy.", "Joyful."), ("What colour is grass?", "Grass is green."),
            ("What is 12 minus 5?", "12 minus 5 is 7."), ("How many minutes are in an hour?", "60 minutes."),
            ("What is the opposite of cold?", "Hot."), ("Which planet is the largest?", "Jupiter."),
            ("Who discovered penicillin?", "Alexander Fleming."), ("What do bees make?", "Honey."),
            ("Translate 'thank you' into French.", "Merci."), ("What is the boiling point of water in Celsius?",
                                                              "100 degrees Celsius."),
            ("How many continents are there?", "There are seven continents."),
            ("Give me a word that rhymes with cat.", "Hat."), ("What is the plural of mouse?", "Mice."),
            ("What gas do plants take in?", "Carbon dioxide."), ("Who was the first person on the moon?",
                                                                 "Neil Armstrong."),
            ("What is the square root of 81?", "9."), ("Spell the word 'friend'.", "F-R-I-E-N-D."),
            ("What is the capital of Japan?", "The capital of Japan is Tokyo."), ("What is H2O?", "Water."),
            ("How many sides does a hexagon have?", "Six."), ("Which animal is known as the king of the jungle?",
                                                          "The lion."),
            ("What language is spoken in Brazil?", "Portuguese."), ("Write a short greeting.", "Hello there!"),
            ("What is the freezing point of water in Fahrenheit?", "32 degrees Fahrenheit."),
            ("Name a fruit that is yellow.", "A banana.")],
           [("What is 9 plus 6?", "15."), ("Who painted the Mona Lisa?", "Leonardo da Vinci."),
            ("Name a primary colour.", "Red."), ("How many days are in a leap year?", "366."),
            ("What is the capital of Canada?", "Ottawa."), ("How many wheels does a bicycle have?", "Two."),
            ("Who wrote Romeo and Juliet?", "William Shakespeare."), ("What is 6 times 7?", "42."),
            ("Which ocean is the largest?", "The Pacific Ocean."), ("What is the opposite of up?", "Down."),
            ("How many hours are in a day?", "24."), ("Say goodbye in Italian.", "Arrivederci!")])
# Requests no tool can serve, answered directly: a fifth of the rows, so the model learns when *not* to call.
NO_TOOL_SHARE = 0.2


def arguments(name: str, rng: random.Random, split: int, text: str) -> dict:
    pick = lambda pool: rng.choice(pool[split])
    if name == "get_weather":
        args = {"city": pick(CITIES)}
        if "{unit}" in text:
            args["unit"] = rng.choice(["celsius", "fahrenheit"])
        return args
    if name == "convert_currency":
        a, b = rng.sample(CURRENCIES[split], 2)
        return {"amount": pick(AMOUNTS), "from_currency": a, "to_currency": b}
    if name == "set_timer":
        args = {"minutes": pick(MINUTES)}
        if "{label}" in text:
            args["label"] = pick(LABELS)
        return args
    if name == "find_flights":
        a, b = rng.sample(CITIES[split], 2)
        return {"origin": a, "destination": b, "date": pick(DATES)}
    return {"to": pick(PEOPLE), "subject": pick(SUBJECTS)}


def offered(name: str | None, rng: random.Random) -> list[dict]:
    others = [n for n in TOOLS if n != name]
    chosen = rng.sample(others, 3 if name is None else 2) + ([name] if name else [])
    rng.shuffle(chosen)
    return [TOOLS[n] for n in chosen]


def example(rng: random.Random, split: int) -> tuple[str, list[dict], list[dict], tuple[str, str] | None]:
    """(user text, tools offered, expected calls, (tool result, final answer) or None for a direct answer)."""
    if rng.random() < NO_TOOL_SHARE:
        question, answer = rng.choice(NO_TOOL[split])
        return question, offered(None, rng), [], (None, answer)
    name = rng.choice(list(TOOLS))
    template = rng.choice(REQUESTS[name])
    args = arguments(name, rng, split, template)
    return template.format(**args), offered(name, rng), [{"name": name, "arguments": args}], RESULTS[name](args)


def train_row(rng: random.Random) -> dict:
    text, tools, calls, (result, answer) = example(rng, 0)
    messages = [{"role": "user", "content": text}]
    if not calls:
        messages.append({"role": "assistant", "content": answer})
    else:
        call_id = f"call_{rng.randrange(10**6):06d}"
        messages.append({"role": "assistant", "content": None, "tool_calls": [
            {"id": call_id, "type": "function", "function": {"name": calls[0]["name"],
                                                             "arguments": json.dumps(calls[0]["arguments"])}}]})
        if rng.random() < 0.5:                # half the rows go on to the tool's result and the reply
            messages += [{"role": "tool", "tool_call_id": call_id, "content": result},
                         {"role": "assistant", "content": answer}]
    return {"messages": messages, "tools": tools}


def heldout_row(rng: random.Random) -> dict:
    text, tools, calls, _ = example(rng, 1)
    return {"prompt": [{"role": "user", "content": text}], "tools": tools, "calls": calls}


def unique(make, rng: random.Random, count: int, key) -> list[dict]:
    rows, seen = [], set()
    while len(rows) < count:
        row = make(rng)
        if key(row) not in seen:
            seen.add(key(row))
            rows.append(row)
    return rows


def main() -> None:
    rng = random.Random(SEED)
    train = unique(train_row, rng, 320, lambda r: json.dumps(r["messages"][:2], sort_keys=True))
    heldout = unique(heldout_row, rng, 100, lambda r: r["prompt"][0]["content"])
    for name, rows in (("tools_train.jsonl", train), ("tools_heldout.jsonl", heldout)):
        (HERE / name).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        print(f"wrote {len(rows)} rows to {HERE / name}")


if __name__ == "__main__":
    main()
