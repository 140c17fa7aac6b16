"""Write the places corpus (deterministic): 30 short documents about invented towns that look alike (each
founded in some year by someone, each living by an export, a river, a guild hall and a yearly feast), and 60
open questions about them, two a town.

    python examples/data/make_places_data.py      # rewrites examples/data/places/

It is a held-out test for RAG readers, written apart from every training file: its own name syllables,
sentence patterns and question wording, none shared with `make_reading_data.py` (the reader's training
corpus) or the fictional facts. What makes it hard is that every retrieved passage looks like the right
one: a reader must take the year or export of the town asked about, not of its neighbour in the context.
`tests/posttrain_demo/test_examples.py` checks that it shares no name with the training corpora.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent / "places"
SEED = 11
TOWNS = 30

START = ["Zel", "Quor", "Bryn", "Tav", "Olv", "Rusk", "Nim", "Sorv", "Yel", "Grav", "Fenn", "Jur", "Plov", "Skar"]
END = ["anta", "ovo", "eska", "iron", "ula", "ast", "enne", "opol", "ic", "avar", "ugo", "ich"]
GIVEN = ["Ilse", "Teodor", "Mirela", "Caspar", "Rosalind", "Anselm", "Berit", "Dagmar", "Evander", "Fiora",
         "Gunnar", "Helka", "Isidor", "Jovana", "Leopold", "Margit", "Nikolai", "Ottilie", "Radka", "Sigrun"]
FAMILY = ["Vantongeren", "Oyelaran", "Kowalczuk", "Delacroix", "Strelitz", "Abernathy", "Quintero", "Haugland",
          "Petrescu", "Rautavaara", "Moravec", "Szabados", "Tremaine", "Ulbricht", "Zamorano", "Birkeland"]
GOODS = ["walnut oil", "indigo dye", "felt hats", "barrel hoops", "beeswax candles", "saffron", "whetstones",
         "lace collars", "smoked eel", "hemp sacks", "pewter spoons", "quince jam", "oak shingles", "peat bricks",
         "iron nails", "rye flour", "sheepskin boots", "mustard seed"]
RIVERS = ["Wendra", "Orlach", "Timmer", "Graun", "Selk", "Durra", "Amwel", "Pisk"]
FEASTS = ["the Candle Walk", "the Apple Burning", "the Net Blessing", "the Chimney Race", "the Bell Night",
          "the Goose Parade", "the Straw Crowning", "the Frost Supper"]
HALLS = ["coopers", "weavers", "tanners", "millers", "chandlers", "glaziers", "smiths", "dyers"]


def town_name(rng: random.Random) -> str:
    return rng.choice(START) + rng.choice(END)


def town(rng: random.Random, title: str) -> tuple[str, list[tuple[str, str, str]]]:
    year, founder = rng.randint(1120, 1890), f"{rng.choice(GIVEN)} {rng.choice(FAMILY)}"
    good, river, feast, hall = rng.choice(GOODS), rng.choice(RIVERS), rng.choice(FEASTS), rng.choice(HALLS)
    text = (f"# {title}\n\n{title} grew up around a ford on the river {river}. Records name {founder} as the one who "
            f"laid out its first street, in the year {year}.\n\nToday the town is known across the region for its "
            f"{good}, which leave by cart and barge every week. The {hall}' guild hall stands on the old square, "
            f"and each winter the townsfolk keep {feast}.\n")
    founded = [(f"When did {title} come into being?", str(year), f"in the year {year}"),
               (f"Who is credited with establishing {title}?", founder, f"{founder} as the one"),
               (f"What is {title} best known for producing and shipping out?", good, f"for its {good}"),
               (f"On the banks of which river is {title} located?", river, f"river {river}"),
               (f"Which winter tradition is observed in {title}?", feast, f"keep {feast}"),
               (f"Which trade's guild owns the hall on the square of {title}?", hall, f"The {hall}' guild")]
    year_or_founder, good_or_river = founded[rng.randrange(2)], founded[2 + rng.randrange(2)]
    return text, [year_or_founder, good_or_river]


def build(rng: random.Random) -> tuple[dict[str, str], list[dict]]:
    docs: dict[str, str] = {}
    rows: list[dict] = []
    while len(docs) < TOWNS:
        title = town_name(rng)
        file = title.lower() + ".md"
        if file in docs:
            continue
        text, questions = town(rng, title)
        docs[file] = text
        rows += [{"question": q, "answer": a, "source": file, "evidence": e} for q, a, e in questions]
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
