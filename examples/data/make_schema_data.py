"""Write the many-schema function-calling data (deterministic: the same files on every run).

    python examples/data/make_schema_data.py     # rewrites examples/data/tools_schemas_train.jsonl, tools_unseen_heldout.jsonl

| file | rows | used by |
|---|---|---|
| tools_schemas_train.jsonl | 576 chats from the schema-reading recipe (`posttrain.data.schema_reading`): 240 generated tools in 16 domains, `messages` + `tools` + `category` | SFT (function_calling.py) |
| tools_unseen_heldout.jsonl | 120 requests to 17 tools written here, in 8 domains the recipe never uses: `prompt`, `tools`, expected `calls`, `category` (simple, multiple, parallel, irrelevance), `domain` | FunctionCalling |

The held-out set is written apart from the recipe: its own tools, domains, parameter descriptions,
values, wordings of requests and no-call questions. `tests/posttrain/data/test_schema_reading.py` checks
that no tool name or domain is shared and that these files are what this script writes.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from posttrain.data.schema_reading import schema_reading_chats

HERE = Path(__file__).resolve().parent
SEED = 23
TRAIN_ROWS = 576
COUNTS = {"simple": 24, "multiple": 40, "parallel": 24, "irrelevance": 32}


def fn(domain: str, name: str, description: str, properties: dict, required: list[str],
       requests: list[str]) -> dict:
    """A held-out tool: its schema, its domain and the requests that call it ({slot} per argument;
    a request's slots are the arguments it passes)."""
    return {"domain": domain, "requests": requests, "schema": {"type": "function", "function": {
        "name": name, "description": description,
        "parameters": {"type": "object", "properties": properties, "required": required}}}}


def s(description: str, **extra: object) -> dict:
    return {"type": "string", "description": description, **extra}


def n(kind: str, description: str) -> dict:
    return {"type": kind, "description": description}


TOOLS = [
    fn("astronomy", "reserve_telescope", "Reserve observing time on an observatory's telescope.",
       {"observatory": s("Observatory name"), "night": s("Night of observation, YYYY-MM-DD"),
        "hours": n("integer", "Hours of observing time"),
        "filter": s("Optical filter", enum=["red", "green", "hydrogen-alpha"])}, ["observatory", "night"],
       ["Reserve the telescope at {observatory} on the night of {night} for {hours} hours.",
        "I want telescope time at {observatory} for {night}, with the {filter} filter.",
        "Book {hours} hours on the {observatory} telescope, night {night}."]),
    fn("astronomy", "lookup_star", "Look up a star's catalogue entry.",
       {"star_name": s("Common name of the star"), "catalogue": s("Catalogue", enum=["hipparcos", "gaia"])},
       ["star_name"],
       ["What does the catalogue say about the star {star_name}?", "Pull up {star_name} from the {catalogue} catalogue."]),
    fn("beekeeping", "inspect_hive", "Log an inspection of a beehive.",
       {"hive_id": s("Hive label"), "inspector": s("Who inspected it"), "inspected_on": s("Date, YYYY-MM-DD")},
       ["hive_id", "inspector"],
       ["Log a hive inspection of {hive_id} by {inspector}.",
        "{inspector} checked hive {hive_id} on {inspected_on}; please record it."]),
    fn("beekeeping", "record_honey_harvest", "Record honey taken from a hive.",
       {"hive_id": s("Hive label"), "kilograms": n("number", "Weight of honey in kilograms"),
        "grade": s("Colour grade", enum=["light", "amber", "dark"])}, ["hive_id", "kilograms"],
       ["We took {kilograms} kg of honey from hive {hive_id}.",
        "Record a harvest of {kilograms} kilograms of {grade} honey from {hive_id}."]),
    fn("maritime", "dock_vessel", "Assign a berth to an arriving ship.",
       {"vessel": s("Ship name"), "berth": n("integer", "Berth number"), "arrival": s("Arrival date, YYYY-MM-DD")},
       ["vessel", "berth"],
       ["Put the {vessel} at berth {berth}.", "The {vessel} arrives {arrival}; give it berth {berth}."]),
    fn("maritime", "track_container", "Where a shipping container is now.",
       {"container_code": s("Container code"), "port": s("Port to check")}, ["container_code"],
       ["Where is container {container_code} right now?", "Is container {container_code} at the port of {port} yet?"]),
    fn("theatre", "buy_theatre_tickets", "Buy seats for a theatre performance.",
       {"show": s("Title of the show"), "seats": n("integer", "Number of seats"),
        "section": s("Part of the house", enum=["stalls", "circle", "balcony"]),
        "performance_date": s("Performance date, YYYY-MM-DD")}, ["show", "seats"],
       ["Get me {seats} seats for {show}.", "I'd love {seats} tickets in the {section} for {show} on {performance_date}.",
        "Quick: {show}, {seats} seats, {section} please."]),
    fn("theatre", "cast_role", "Give a role in a production to an actor.",
       {"role_name": s("The part"), "actor": s("The actor's full name")}, ["role_name", "actor"],
       ["Cast {actor} as {role_name}.", "Let's give the part of {role_name} to {actor}."]),
    fn("gardening", "plan_planting", "Plan what is sown in a garden bed.",
       {"crop": s("What to sow"), "bed": n("integer", "Bed number"), "sow_date": s("Sowing date, YYYY-MM-DD"),
        "spacing_cm": n("integer", "Distance between plants in cm")}, ["crop", "bed"],
       ["Sow {crop} in bed {bed} on {sow_date}.", "Plan {crop} for bed {bed}, {spacing_cm} cm apart."]),
    fn("gardening", "order_seeds", "Order packets of seeds by post.",
       {"variety": s("Seed variety"), "packets": n("integer", "How many packets"),
        "shipping": {"type": "object", "description": "Delivery address",
                     "properties": {"street": s("Street and house number"), "town": s("Town")},
                     "required": ["street", "town"]}}, ["variety", "packets"],
       ["Order {packets} packets of {variety} seeds.",
        "Send {packets} packs of {variety} seed to {shipping.street}, {shipping.town}."]),
    fn("museum", "book_museum_tour", "Book a guided tour of a museum.",
       {"museum": s("Museum name"), "visitors": n("integer", "Group size"), "tour_date": s("Date, YYYY-MM-DD"),
        "language": s("Language of the guide", enum=["German", "Italian", "Japanese"])}, ["museum", "visitors"],
       ["Book a tour of the {museum} for {visitors} visitors.",
        "We are {visitors} people and want a {language} tour of the {museum} on {tour_date}."]),
    fn("museum", "loan_artwork", "Lend an artwork to another institution.",
       {"artwork_id": s("Inventory number"), "borrower": s("Borrowing institution"),
        "until": s("Return date, YYYY-MM-DD")}, ["artwork_id", "borrower"],
       ["Lend artwork {artwork_id} to {borrower}.", "{borrower} may borrow {artwork_id} until {until}."]),
    fn("brewing", "start_fermentation", "Start fermenting a batch of beer.",
       {"batch_name": s("Name of the batch"), "yeast": s("Yeast family", enum=["ale", "lager", "wheat"]),
        "temperature_c": n("number", "Fermentation temperature in Celsius"), "days": n("integer", "Length in days")},
       ["batch_name", "yeast"],
       ["Start fermenting {batch_name} with {yeast} yeast.",
        "Ferment the {batch_name} batch on {yeast} yeast at {temperature_c} degrees for {days} days."]),
    fn("railway", "reserve_train_seat", "Reserve a seat on a train.",
       {"train_number": s("Train number"), "coach": n("integer", "Coach number"), "travel_date": s("Date, YYYY-MM-DD")},
       ["train_number", "travel_date"],
       ["Reserve me a seat on train {train_number} on {travel_date}.",
        "Seat please on the {train_number}, coach {coach}, travelling {travel_date}."]),
    fn("railway", "report_delay", "Report a delay on a railway line.",
       {"line": s("Line name"), "minutes": n("integer", "Delay in minutes"), "station": s("Station affected")},
       ["line", "minutes"],
       ["The {line} line is running {minutes} minutes late.", "Report a {minutes} minute delay on the {line} at {station}."]),
    fn("railway", "find_connection", "Find train connections between two stations.",
       {"from_station": s("Departure station"), "to_station": s("Arrival station"),
        "departure_time": s("Earliest departure, HH:MM")}, ["from_station", "to_station"],
       ["How do I get by train from {from_station} to {to_station}?",
        "Trains from {from_station} to {to_station} leaving after {departure_time}?"]),
    fn("brewing", "check_gravity", "Read the specific gravity of a batch.",
       {"batch_name": s("Name of the batch"), "sample_count": n("integer", "Number of samples")}, ["batch_name"],
       ["What is the gravity of the {batch_name} batch?", "Take {sample_count} gravity samples of {batch_name}."]),
]

VALUES = {
    "observatory": ["Kitt Ridge", "Mauna Vista", "Cerro Alto"], "filter": ["red", "green", "hydrogen-alpha"], "star_name": ["Vega", "Altair", "Deneb", "Rigel"],
    "catalogue": ["hipparcos", "gaia"], "hive_id": ["H-17", "H-22", "H-40"],
    "inspector": ["Oskar Lind", "Priya Nair", "Tomas Vidal"], "grade": ["light", "amber", "dark"],
    "vessel": ["Northern Star", "Sea Lark", "Albatross"], "container_code": ["MSKU-4411", "TGHU-0982", "CAIU-7350"],
    "port": ["Rotterdam", "Antwerp", "Gdansk"], "show": ["The Glass Garden", "Night Ferry", "Hamlet Reimagined"],
    "section": ["stalls", "circle", "balcony"], "role_name": ["Ophelia", "the Narrator", "Captain Hook"],
    "actor": ["Sofia Brandt", "Kwame Mensah", "Lucia Ferri"], "crop": ["tomatoes", "kale", "garlic", "beans"],
    "variety": ["Cherry Belle", "Early Wonder", "Purple Haze"], "museum": ["Maritime Museum", "Rijks Gallery", "Art Hall"],
    "language": ["German", "Italian", "Japanese"], "artwork_id": ["INV-301", "INV-588", "INV-742"],
    "borrower": ["the Tate", "the Prado", "the Louvre"], "batch_name": ["Harvest Red", "Dark Oak", "Pale Sun"],
    "yeast": ["ale", "lager", "wheat"], "train_number": ["IC 2041", "EC 87", "RJ 63"],
    "line": ["Coastal", "Valley", "Airport"], "station": ["Eastgate", "Millbrook", "Harbour Central"],
    "from_station": ["Eastgate", "Millbrook"], "to_station": ["Harbour Central", "Westfield"],
    "departure_time": ["06:40", "13:10", "18:25"], "shipping.street": ["5 Birch Row", "40 Canal Walk"],
    "shipping.town": ["Ashford", "Brampton", "Kendal"],
}
NUMBERS = {"hours": (2, 9), "kilograms": (1.5, 30.0), "berth": (1, 40), "seats": (1, 8), "bed": (1, 12),
           "spacing_cm": (10, 60), "packets": (1, 9), "visitors": (3, 30), "temperature_c": (10.0, 24.0),
           "days": (5, 30), "coach": (1, 14), "minutes": (5, 95), "sample_count": (2, 6)}
DATE_SLOTS = {"night", "inspected_on", "arrival", "performance_date", "sow_date", "tour_date", "until", "travel_date"}
JOINERS = ["{a} Additionally, {b}", "{a} On top of that: {b}", "First: {a} Second: {b}", "{a} Oh, and {b}"]
NO_CALL = ["What is the tallest mountain in Africa?", "How many strings does a violin have?",
           "Who composed the Four Seasons?", "What is 15 plus 27?", "Which is heavier, a kilo of iron or a kilo of "
           "feathers?", "What does a thermometer measure?", "Name three primary colours.", "What is 9 times 8?",
           "Good morning! How is it going?", "Why is the sky blue?", "What is the chemical symbol for gold?",
           "How many weeks are in a year?", "Can you recommend a good name for a goldfish?",
           "Summarise the plot of Cinderella in one sentence.", "What rhymes with orange?",
           "Is a tomato a fruit or a vegetable?"]
NO_TOOL_ASKS = {"astronomy": ["Explain what a light year is.", "Polish the mirror of the telescope."],
                "beekeeping": ["Paint the hives yellow.", "Why do bees dance?"],
                "maritime": ["Repaint the hull of a ship.", "Tell me a sea shanty."],
                "theatre": ["Write a review of last night's play.", "Fix the stage lights."],
                "gardening": ["Water the roses for me.", "What is compost made of?"],
                "museum": ["Dust the statues.", "Who painted the Night Watch?"],
                "brewing": ["Taste the beer and tell me if it's good.", "Clean the brewing kettle."],
                "railway": ["Refund my last train ticket.", "Why are trains late in autumn?"]}


def value(slot: str, rng: random.Random) -> object:
    if slot in DATE_SLOTS:
        return f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    if slot in NUMBERS:
        lo, hi = NUMBERS[slot]
        return rng.randint(lo, hi) if isinstance(lo, int) else round(rng.uniform(lo, hi) * 2) / 2
    return rng.choice(VALUES[slot])


def said(v: object) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def request(tool: dict, rng: random.Random) -> tuple[str, dict]:
    template = rng.choice(tool["requests"])
    slots = [part.split("}")[0] for part in template.split("{")[1:]]
    values = {slot: value(slot, rng) for slot in slots}
    args: dict = {}
    for slot, v in values.items():
        if "." in slot:
            outer, inner = slot.split(".")
            args.setdefault(outer, {})[inner] = v
        else:
            args[slot] = v
    text = template
    for slot, v in values.items():
        text = text.replace("{" + slot + "}", said(v))
    return (text if template.startswith("{") else text[0].lower() + text[1:]), args


def offer(rng: random.Random, must: list[dict], size: int) -> list[dict]:
    others = [t for t in TOOLS if t not in must]
    chosen = must + rng.sample(others, size - len(must))
    rng.shuffle(chosen)
    return chosen


def heldout_row(category: str, rng: random.Random) -> dict:
    if category == "irrelevance":
        offered = offer(rng, [], rng.randint(1, 3))
        domain = rng.choice(offered)["domain"]
        prompt = rng.choice(NO_CALL) if rng.random() < 0.5 else rng.choice(NO_TOOL_ASKS[domain])
        calls: list[dict] = []
    elif category == "parallel":
        first, second = rng.sample(TOOLS, 2) if rng.random() < 0.6 else [rng.choice(TOOLS)] * 2
        (text_a, args_a), (text_b, args_b) = request(first, rng), request(second, rng)
        prompt = rng.choice(JOINERS).format(a=text_a[0].upper() + text_a[1:], b=text_b)
        calls = [{"name": first["schema"]["function"]["name"], "arguments": args_a},
                 {"name": second["schema"]["function"]["name"], "arguments": args_b}]
        must = [first] if first is second else [first, second]
        offered = offer(rng, must, max(len(must), rng.randint(2, 3)))
        domain = first["domain"]
    else:
        tool = rng.choice(TOOLS)
        prompt, args = request(tool, rng)
        prompt = prompt[0].upper() + prompt[1:]
        calls = [{"name": tool["schema"]["function"]["name"], "arguments": args}]
        offered = [tool] if category == "simple" else offer(rng, [tool], rng.randint(2, 4))
        domain = tool["domain"]
    return {"prompt": [{"role": "user", "content": prompt}], "tools": [t["schema"] for t in offered],
            "calls": calls, "category": category, "domain": domain}


def build() -> dict[str, list[dict]]:
    """Every file this script writes, by name, as rows."""
    rng = random.Random(SEED)
    heldout, seen = [], set()
    for category, count in COUNTS.items():
        made = 0
        while made < count:
            row = heldout_row(category, rng)
            key = (row["prompt"][0]["content"], json.dumps(row["tools"]))
            if key not in seen and (category != "parallel" or row["calls"][0] != row["calls"][1]):
                seen.add(key)
                heldout.append(row)
                made += 1
    rng.shuffle(heldout)
    return {"tools_schemas_train.jsonl": schema_reading_chats(TRAIN_ROWS, seed=0),
            "tools_unseen_heldout.jsonl": heldout}


def main() -> None:
    for name, rows in build().items():
        (HERE / name).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        print(f"wrote {len(rows)} rows to {HERE / name}")


if __name__ == "__main__":
    main()
