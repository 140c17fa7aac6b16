"""Write the search-training corpus (deterministic): short lives of the people the reading corpus's look-alike
records name (each ship's first master, each farm's founder, ...), and questions for a search agent over the
reading documents and these lives together: one-hop questions (one record answers them) and two-hop questions
(the record names a person, the person's life holds the answer).

    python examples/data/make_search_data.py      # rewrites examples/data/search/ (run make_reading_data first)

A two-hop row carries its `bridge` (the person's name) and `second` (the question asked again with the name in
place of its description): "In which town was the first captain of the Cresta Light born?" becomes "In which
town was Irwe Eskow born?". `rag_baseline.search.search_traces` turns the rows into worked episodes (search the
question, read, search again with the name where one search is not enough, answer with the span alone) for a
cold start before GRPO. Like the reading corpus, it shares no name with the fictional facts or the places
corpus (`tests/posttrain_demo/test_examples.py`).
"""

from __future__ import annotations

import importlib.util
import json
import random
import re
from pathlib import Path

HERE = Path(__file__).resolve().parent / "search"
SEED = 13
TRADES = ["a wheelwright", "a rope maker", "a bookbinder", "a lamplighter", "a harness maker", "a bell founder"]


def _reading():
    spec = importlib.util.spec_from_file_location("make_reading_data", Path(__file__).resolve().parent /
                                                  "make_reading_data.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


# (family, the sentence of a record that names its person, how a question describes that person)
ROLES = {"ship": ("first master", "the first captain of the {t}"),
         "farm": ("founder", "the founder of {t} Farm"),
         "observatory": ("first director", "the first director of the {t} Observatory"),
         "choir": ("founder", "the founder of the {t} Singers"),
         "quarry": ("opener", "the person who opened {t} Quarry")}
ASKS = [("In which town was {d} born?", "town"), ("In what year was {d} born?", "year"),
        ("What was the first trade of {d}?", "trade")]


def build(rng: random.Random) -> tuple[dict[str, str], list[dict]]:
    reading = _reading()
    docs, rows = reading.build(random.Random(reading.SEED))
    person_of: dict[str, tuple[str, str]] = {}            # person -> (record file, description)
    seen: dict[str, int] = {}
    for row in rows:
        family = row["source"].split("_", 1)[0]
        if family not in ROLES:
            continue
        title = re.match(r"# (?:The )?(.+?)(?: Farm| Observatory| Singers| Quarry)?\n", docs[row["source"]])
        question = row["question"]
        asks_person = any(w in question for w in ("Who was the first captain", "Who commanded", "Who founded",
                                                  "Who started", "Who was the first director", "Who first ran",
                                                  "Who formed", "Who opened", "Who was the first to dig"))
        if asks_person and title:
            seen[row["answer"]] = seen.get(row["answer"], 0) + 1
            person_of[row["answer"]] = (row["source"], ROLES[family][1].format(t=title.group(1)))
    lives: dict[str, str] = {}
    out: list[dict] = []
    for person, (record, description) in sorted(person_of.items()):
        if seen[person] > 1:                                # a name two records share would be ambiguous
            continue
        year, town, trade = rng.randint(1780, 1940), reading.place(rng), rng.choice(TRADES)
        bodies = [f"{person} was born in {year} in {town} and was apprenticed as {trade}.",
                  f"Born in {town} in {year}, {person} first worked as {trade}.",
                  f"{person} trained as {trade}. The parish book of {town} records the birth in {year}."]
        file = "life_" + person.lower().replace(" ", "_") + ".md"
        lives[file] = f"# {person}\n\n{rng.choice(bodies)}\n"
        for template, field in rng.sample(ASKS, 2):
            answer = {"town": town, "year": str(year), "trade": trade}[field]
            out.append({"question": template.format(d=description), "answer": answer, "source": file, "hops": 2,
                        "bridge": person, "second": template.format(d=person), "via": record})
    single = [dict(row, hops=1) for row in rows if row["source"].split("_", 1)[0] in ROLES]
    rng.shuffle(single)
    return lives, out + single[: len(out)]


def main() -> None:
    docs, rows = build(random.Random(SEED))
    (HERE / "docs").mkdir(parents=True, exist_ok=True)
    for old in (HERE / "docs").glob("*.md"):
        old.unlink()
    for file, text in docs.items():
        (HERE / "docs" / file).write_text(text, encoding="utf-8")
    (HERE / "train.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                                      encoding="utf-8")
    print(f"wrote {len(docs)} lives and {len(rows)} questions ({sum(r['hops'] == 2 for r in rows)} two-hop) to {HERE}")


if __name__ == "__main__":
    main()
