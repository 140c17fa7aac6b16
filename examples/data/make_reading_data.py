"""Write the reading corpus (deterministic): short documents about invented places, companies and people,
with questions worded apart from the sentences that answer them.

    python examples/data/make_reading_data.py      # rewrites examples/data/reading/

It teaches a small model to *read*: a RAG reader trained on it (`examples/rag_reader.py`, RAFT's rows)
is evaluated on the fictional-facts corpus, whose documents, names and facts it never saw, so what it
gains there is the skill of answering from retrieved passages, not facts. Names are drawn from their own
syllables and checked against the fictional-facts documents (`tests/posttrain_demo/test_examples.py`).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent / "reading"
SEED = 5
DOCS = 24

FIRST = ["Adra", "Belin", "Corra", "Dunai", "Emmet", "Faro", "Gisla", "Hanno", "Irwe", "Joska", "Kallo", "Lumi",
         "Marek", "Nessa", "Odile", "Pavo", "Quina", "Rasmo", "Sefa", "Tobin", "Ulla", "Vesko", "Wenna", "Yarro"]
LAST = ["Aldane", "Brisco", "Castell", "Dorran", "Eskow", "Farlane", "Gorrick", "Hathe", "Iversen", "Jolley",
        "Kettering", "Lannis", "Morrow", "Nyberg", "Ostrand", "Pellam", "Quarry", "Rendell", "Sallow", "Thorne"]
PLACE_A = ["Kel", "Mar", "Dov", "Ash", "Pell", "Wrin", "Cal", "Thorn", "Esk", "Lun", "Bar", "Orm", "Vell", "Hest"]
PLACE_B = ["ford", "mere", "wick", "haven", "stead", "holm", "by", "ridge", "dale", "port", "mouth", "field"]
PRODUCTS = ["glass lenses", "river barges", "wool blankets", "clock springs", "solar kettles", "canvas tents",
            "copper pipes", "tin buckets", "bicycle frames", "ceramic tiles", "rope ladders", "sea salt"]
EXPORTS = ["dried figs", "slate roofing", "salted herring", "amber beads", "linen thread", "pine resin",
           "goat cheese", "marble dust", "wild honey", "cork boards"]
SEAS = ["Gannet Sea", "Orrin Sea", "Pale Sound", "Heron Bay", "Tamsin Gulf", "Corvel Sea"]
INSTRUMENTS = ["reed horn", "box zither", "long drum", "bone flute", "wire harp", "clay whistle"]
SPORTS = ["log rolling", "kite racing", "stone skipping", "boat pulling", "hill sledding", "hoop throwing"]
BIRDS = ["a grey heron", "a black swift", "a red kite", "a snow bunting", "a sea eagle", "a tufted puffin"]
ANIMALS = ["a badger", "a heron", "a fox", "a hare", "a seal", "an owl", "a lynx", "a beaver"]
JOBS = ["a ship's carpenter", "a schoolteacher", "a surveyor", "a printer", "a glassblower", "a botanist"]
WORKS = ["The Quiet Orchard", "Letters from the Ridge", "A Map of Rain", "The Lantern Year", "Salt and Clover",
         "North of the Mill", "The Copper Hour", "Songs for the Ferry"]


def name(rng: random.Random) -> str:
    return f"{rng.choice(FIRST)} {rng.choice(LAST)}"


def place(rng: random.Random) -> str:
    return rng.choice(PLACE_A) + rng.choice(PLACE_B)


def island(rng: random.Random, title: str) -> tuple[str, list[tuple[str, str]]]:
    capital, sea, area = place(rng), rng.choice(SEAS), rng.randint(90, 990)
    people, export = f"{rng.randint(2, 60)},{rng.randint(100, 999)}", rng.choice(EXPORTS)
    bird, peak, height = rng.choice(BIRDS), f"Mount {place(rng)}", rng.randint(300, 1900)
    text = (f"# {title}\n\n{title} is an island in the {sea}, covering {area} square kilometres. Its capital is "
            f"{capital}, a market town on the southern shore.\n\nThe last census counted {people} residents. Most "
            f"of them live along the coast, and the main export of the island is {export}.\n\nThe highest point is "
            f"{peak}, which rises to {height} metres. The island's emblem is {bird}, carved above the door of "
            f"the town hall in {capital}.\n")
    return text, [(f"What is the main town of {title}?", capital), (f"Which sea is {title} in?", sea),
                  (f"How large is {title} in square kilometres?", str(area)),
                  (f"What is the population of {title}?", people), (f"What does {title} mainly sell abroad?", export),
                  (f"What is the tallest mountain on {title}?", peak),
                  (f"How tall is {peak} in metres?", str(height)), (f"Which bird is the symbol of {title}?", bird)]


def company(rng: random.Random, title: str) -> tuple[str, list[tuple[str, str]]]:
    product, year, founder, partner = rng.choice(PRODUCTS), rng.randint(1850, 2015), name(rng), name(rng)
    town, chief, since, staff = place(rng), name(rng), rng.randint(2000, 2023), f"{rng.randint(1, 9)},{rng.randint(100, 999)}"
    mascot, mascot_name = rng.choice(ANIMALS), rng.choice(FIRST)
    text = (f"# {title}\n\n{title} is a firm that makes {product}. It was started in {year} in {town} by "
            f"{founder} and {partner}.\n\nSince {since} the company has been run by {chief}. It has {staff} "
            f"employees across three workshops.\n\nThe firm's mascot is {mascot} called {mascot_name}, painted on "
            f"every delivery van.\n")
    return text, [(f"What does {title} produce?", product), (f"In what year was {title} founded?", str(year)),
                  (f"Where was {title} founded?", town), (f"Who started {title} together with {partner}?", founder),
                  (f"Who leads {title} today?", chief), (f"How many people work for {title}?", staff),
                  (f"What is the name of the {title} mascot?", mascot_name)]


def person(rng: random.Random, title: str) -> tuple[str, list[tuple[str, str]]]:
    job, born, town, work, prize = rng.choice(JOBS), rng.randint(1800, 1990), place(rng), rng.choice(WORKS), rng.randint(1900, 2020)
    partner, bridge = name(rng), f"the {place(rng)} Bridge"
    text = (f"# {title}\n\n{title} was born in {born} in {town} and worked as {job} before turning to writing. "
            f"{title} is best known for the book {work}.\n\nIn {prize} {title} designed {bridge} with the engineer "
            f"{partner}, a footbridge still used every day.\n")
    return text, [(f"In which year was {title} born?", str(born)), (f"What is the birthplace of {title}?", town),
                  (f"What was {title}'s first job?", job), (f"Which book made {title} famous?", work),
                  (f"Which bridge did {title} design?", bridge), (f"Who designed {bridge} with {title}?", partner)]


def festival(rng: random.Random, title: str) -> tuple[str, list[tuple[str, str]]]:
    month, sport, instrument, food = rng.choice(["March", "May", "June", "August", "November"]), rng.choice(SPORTS), \
        rng.choice(INSTRUMENTS), rng.choice(["barley bread", "plum cake", "pickled beets", "honey biscuits"])
    days, town = rng.randint(2, 9), place(rng)
    text = (f"# {title}\n\n{title} is held every {month} in {town} and lasts {days} days. The favourite contest is "
            f"{sport}, and the winners receive a basket of {food}.\n\nThe music of the festival is played on the "
            f"{instrument}, an instrument made only in {town}.\n")
    return text, [(f"In which month does {title} take place?", month), (f"Where is {title} celebrated?", town),
                  (f"How many days does {title} last?", str(days)), (f"What is the main contest of {title}?", sport),
                  (f"What do the winners of {title} get?", f"{food}"),
                  (f"Which instrument is heard at {title}?", instrument)]


def build(rng: random.Random) -> tuple[dict[str, str], list[dict]]:
    makers = [(island, lambda: f"Isle of {place(rng)}"), (company, lambda: f"{place(rng)} {rng.choice(['Works', 'Industries', 'and Sons'])}"),
              (person, lambda: name(rng)), (festival, lambda: f"The {place(rng)} Fair")]
    docs, rows, titles = {}, [], set()
    while len(docs) < DOCS:
        write, titled = makers[len(docs) % len(makers)]
        title = titled()
        if title in titles:
            continue
        titles.add(title)
        text, questions = write(rng, title)
        file = title.lower().replace(" ", "_").replace("'", "") + ".md"
        docs[file] = text
        rows += [{"question": q, "answer": a, "source": file} for q, a in questions]
    return docs, rows


def main() -> None:
    docs, rows = build(random.Random(SEED))
    (HERE / "docs").mkdir(parents=True, exist_ok=True)
    for old in (HERE / "docs").glob("*.md"):
        old.unlink()
    for file, text in docs.items():
        (HERE / "docs" / file).write_text(text, encoding="utf-8")
    (HERE / "qa.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    print(f"wrote {len(docs)} documents and {len(rows)} questions to {HERE}")


if __name__ == "__main__":
    main()
