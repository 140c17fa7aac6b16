"""Write the reading corpus (deterministic): short documents about invented places, companies and people,
with questions worded apart from the sentences that answer them.

    python examples/data/make_reading_data.py      # rewrites examples/data/reading/

It teaches a small model to *read*: a RAG reader trained on it (`examples/rag_reader.py`, RAFT's rows)
is evaluated on the fictional-facts corpus, whose documents, names and facts it never saw, so what it
gains there is the skill of answering from retrieved passages, not facts. Names are drawn from their own
syllables and checked against the fictional-facts documents (`tests/posttrain_demo/test_examples.py`).

Beside the 24 mixed documents it writes families of look-alike records (ships, farms, observatories, choirs
and quarries: ten of each, with the same kinds of fact worded several ways, drawn from small pools so that
neighbours share names, years and goods). Retrieval for a question about one of them brings its neighbours
along, so a reader trained on these rows learns to take the fact of the one the question names, and to
answer with that span alone.
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


# --- look-alike families ----------------------------------------------------------------------------------------
FAMILY_SIZE = 10
STEMS = ["Cresta", "Merrow", "Talvin", "Orsay", "Belmar", "Kestrin", "Lorne", "Varga", "Hollin", "Damaris"]
SUFFIX = ["Dawn", "Gale", "Bloom", "Crest", "Light", "Tide", "Spur", "Reach"]
YARDS = ["Pellmouth Quay", "Kelbarrow Slip", "Ashwick Docks", "Marholm Yard", "Dovering Basin"]
CARGOES = ["baled cotton", "coal briquettes", "tea chests", "olive oil", "timber planks", "pig iron", "raw sugar"]
CROPS = ["pear cider", "black currants", "sugar beet", "winter kale", "green hops", "red onions", "sweet corn"]
STONES = ["grey granite", "blue slate", "white chalk", "red sandstone", "green serpentine", "pink marble"]
STYLES = ["sea shanties", "hymns", "folk ballads", "madrigals", "work songs", "lullabies"]
COMETS = ["a faint comet", "a double star", "a new nebula", "a variable star", "a small moon", "a bright comet"]
VENUES = ["the Corn Exchange", "the Drill Hall", "the Assembly Rooms", "the Mechanics' Institute", "the Old Chapel"]


def thousands(rng: random.Random, low: int, high: int) -> str:
    return f"{rng.randint(low, high):,}"


def ask(rng: random.Random, wordings: list[str], **names: str) -> str:
    return rng.choice(wordings).format(**names)


def ship(rng: random.Random, title: str) -> tuple[str, list[tuple[str, str]]]:
    year, yard, master, cargo, tons = rng.randint(1820, 1960), rng.choice(YARDS), name(rng), rng.choice(CARGOES), \
        thousands(rng, 1100, 9800)
    bodies = [f"The {title} is a cargo ship launched in {year} from {yard}. Her first master was {master}. She "
              f"carries {cargo} and can load {tons} tonnes.",
              f"Built at {yard} and launched in {year}, the {title} took {master} as her first captain. Her holds "
              f"are fitted for {cargo}; fully laden she takes {tons} tonnes.",
              f"{master} was the first to command the {title}, which left the slipway of {yard} in {year}. Today "
              f"she hauls {cargo}, up to {tons} tonnes a voyage."]
    t = {"t": title}
    return f"# The {title}\n\n{rng.choice(bodies)}\n", [
        (ask(rng, ["When was the {t} launched?", "In which year did the {t} first take to the water?",
                   "What year was the ship {t} launched?"], **t), str(year)),
        (ask(rng, ["Where was the {t} built?", "Which shipyard launched the {t}?"], **t), yard),
        (ask(rng, ["Who was the first captain of the {t}?", "Who commanded the {t} first?"], **t), master),
        (ask(rng, ["What cargo does the {t} haul?", "What goods is the {t} fitted to carry?"], **t), cargo),
        (ask(rng, ["How many tonnes can the {t} load?", "What is the capacity of the {t} in tonnes?"], **t), tons)]


def farm(rng: random.Random, title: str) -> tuple[str, list[tuple[str, str]]]:
    year, owner, crop, acres, market = rng.randint(1700, 1990), name(rng), rng.choice(CROPS), rng.randint(40, 900), \
        place(rng)
    bodies = [f"{title} Farm was planted in {year} by {owner}. Its {acres} acres are given over to {crop}, sold "
              f"every week at the market in {market}.",
              f"On {acres} acres near {market}, {title} Farm grows {crop}. The first furrow was cut in {year} by "
              f"{owner}.",
              f"The {crop} of {title} Farm go to the market at {market}. {owner} founded the farm in {year}, and "
              f"it now spans {acres} acres."]
    t = {"t": title}
    return f"# {title} Farm\n\n{rng.choice(bodies)}\n", [
        (ask(rng, ["When was {t} Farm started?", "In what year did {t} Farm begin?"], **t), str(year)),
        (ask(rng, ["Who founded {t} Farm?", "Who started {t} Farm?"], **t), owner),
        (ask(rng, ["What is grown at {t} Farm?", "What crop does {t} Farm raise?"], **t), crop),
        (ask(rng, ["How many acres does {t} Farm cover?", "What is the size of {t} Farm in acres?"], **t), str(acres)),
        (ask(rng, ["In which town does {t} Farm sell its crop?", "Where is the market of {t} Farm?"], **t), market)]


def observatory(rng: random.Random, title: str) -> tuple[str, list[tuple[str, str]]]:
    year, director, mirror, found, height = rng.randint(1780, 1980), name(rng), rng.randint(20, 250), \
        rng.choice(COMETS), thousands(rng, 1000, 4200)
    bodies = [f"The {title} Observatory opened in {year} at {height} metres above the sea. Its first director, "
              f"{director}, found {found} with its {mirror} cm mirror.",
              f"{director} ran the {title} Observatory from its opening in {year}. Perched at {height} metres, its "
              f"telescope has a mirror {mirror} cm across, and through it the staff found {found}.",
              f"Through the {mirror} cm mirror of the {title} Observatory ({height} metres up, opened {year}) its "
              f"first director {director} discovered {found}."]
    t = {"t": title}
    return f"# {title} Observatory\n\n{rng.choice(bodies)}\n", [
        (ask(rng, ["When did the {t} Observatory open?", "In which year was the {t} Observatory opened?"], **t),
         str(year)),
        (ask(rng, ["Who was the first director of the {t} Observatory?", "Who first ran the {t} Observatory?"], **t),
         director),
        (ask(rng, ["How wide is the mirror of the {t} Observatory in cm?",
                   "What is the mirror size of the {t} Observatory, in centimetres?"], **t), str(mirror)),
        (ask(rng, ["What was discovered at the {t} Observatory?", "What did the {t} Observatory find?"], **t), found),
        (ask(rng, ["At what altitude in metres is the {t} Observatory?", "How high up is the {t} Observatory?"], **t),
         height)]


def choir(rng: random.Random, title: str) -> tuple[str, list[tuple[str, str]]]:
    year, leader, style, voices, venue = rng.randint(1850, 2010), name(rng), rng.choice(STYLES), rng.randint(12, 95), \
        rng.choice(VENUES)
    bodies = [f"The {title} Singers were formed in {year} by {leader}. The {voices} voices sing mostly {style} "
              f"and rehearse on Tuesdays in {venue}.",
              f"Every Tuesday {venue} fills with the {voices} members of the {title} Singers, a choir {leader} "
              f"gathered in {year}. Their songs are {style}.",
              f"{leader} brought the {title} Singers together in {year}. Known for {style}, the choir of {voices} "
              f"meets in {venue}."]
    t = {"t": title}
    return f"# The {title} Singers\n\n{rng.choice(bodies)}\n", [
        (ask(rng, ["When were the {t} Singers founded?", "In what year did the {t} Singers begin?"], **t), str(year)),
        (ask(rng, ["Who formed the {t} Singers?", "Who founded the choir called the {t} Singers?"], **t), leader),
        (ask(rng, ["What do the {t} Singers mostly sing?", "What kind of songs are the {t} Singers known for?"], **t),
         style),
        (ask(rng, ["How many singers are in the {t} Singers?", "How many members do the {t} Singers have?"], **t),
         str(voices)),
        (ask(rng, ["Where do the {t} Singers rehearse?", "In which building do the {t} Singers meet?"], **t), venue)]


def quarry(rng: random.Random, title: str) -> tuple[str, list[tuple[str, str]]]:
    year, opener, stone, depth, workers = rng.randint(1600, 1950), name(rng), rng.choice(STONES), rng.randint(15, 240), \
        thousands(rng, 1000, 3500)
    bodies = [f"{title} Quarry was first cut in {year} by {opener}. It yields {stone} from a pit {depth} metres "
              f"deep, and {workers} people have worked there in all.",
              f"The pit of {title} Quarry, {depth} metres deep, gives {stone}. {opener} opened it in {year}; "
              f"{workers} workers have passed through its gates.",
              f"{opener} broke ground at {title} Quarry in {year}. Down to {depth} metres the walls are {stone}, and "
              f"the pay books list {workers} workers."]
    t = {"t": title}
    return f"# {title} Quarry\n\n{rng.choice(bodies)}\n", [
        (ask(rng, ["When was {t} Quarry opened?", "In what year did work begin at {t} Quarry?"], **t), str(year)),
        (ask(rng, ["Who opened {t} Quarry?", "Who was the first to dig at {t} Quarry?"], **t), opener),
        (ask(rng, ["What stone comes from {t} Quarry?", "Which stone is cut at {t} Quarry?"], **t), stone),
        (ask(rng, ["How deep is {t} Quarry in metres?", "What is the depth of {t} Quarry?"], **t), str(depth)),
        (ask(rng, ["How many people have worked at {t} Quarry?", "How many workers has {t} Quarry had?"], **t),
         workers)]


FAMILIES = [ship, farm, observatory, choir, quarry]


def lookalikes(rng: random.Random) -> tuple[dict[str, str], list[dict]]:
    """Ten records of each family, named from the same stems so that neighbours look alike."""
    docs: dict[str, str] = {}
    rows: list[dict] = []
    for write in FAMILIES:
        titles: list[str] = []
        while len(titles) < FAMILY_SIZE:
            title = f"{rng.choice(STEMS)} {rng.choice(SUFFIX)}" if write is ship else rng.choice(STEMS) + \
                rng.choice(["", "ley", "wood", "combe", "hurst"])
            if title not in titles:
                titles.append(title)
        for title in titles:
            text, questions = write(rng, title)
            file = f"{write.__name__}_{title.lower().replace(' ', '_')}.md"
            docs[file] = text
            rows += [{"question": q, "answer": a, "source": file} for q, a in questions]
    return docs, rows


# --- look-alike families, second set ----------------------------------------------------------------------------
# Each fact is asked in words other than the passage's (who "founded" a village whose first house someone "put
# up"), some facts sit after a common noun the question names ("the stream Lusk": asked which stream, the answer
# is Lusk), and every record carries side details (a footbridge, a well, a bell) that answer nothing asked.
SECOND_SEED = 17
STEMS_2 = ["Hobb", "Tarr", "Wense", "Copple", "Drax", "Ludd", "Sawle", "Merrin", "Oake", "Brack"]
STREAMS = ["Ebbet", "Lusk", "Harle", "Wennet", "Tirrow", "Callan", "Myne", "Osset"]
CANALS = ["Gorse Cut", "Levant Cut", "Hawley Cut", "Brindle Cut", "Saltash Cut"]
SKERRIES = ["Karrek", "Scolt", "Gwenna", "Trebba", "Lundle", "Morvah", "Pendra"]
HAMLETS = ["Cobden", "Wyche", "Stennet", "Hurlow", "Plaish", "Tibbet", "Yarncombe"]
GRAINS = ["buckwheat meal", "malted barley", "pea flour", "spelt flour", "oatmeal", "bran for horses"]
WARES = ["blue teapots", "salt-glazed jugs", "garden urns", "drain pipes", "roof finials", "butter crocks"]
TRADES = ["horn combs", "reed baskets", "clay pipes", "willow hurdles", "brass bells", "oat cakes", "tallow soap"]


def mill(rng: random.Random, title: str) -> tuple[str, list[tuple[str, str]]]:
    stream, builder, year, grain = rng.choice(STREAMS), name(rng), rng.randint(1500, 1900), rng.choice(GRAINS)
    bodies = [f"{title} Mill turns on the stream {stream}, below the weir. The millwright {builder} raised its "
              f"wheel in {year}, and today its stones grind {grain} for the bakers of the valley. A footbridge "
              f"crosses the race beside the miller's cottage.",
              f"Below a stone footbridge the stream {stream} drives the wheel of {title} Mill. Its frame was put up "
              f"by {builder} in the year {year}; the mill still grinds {grain}, which carters take to the towns.",
              f"{builder} built {title} Mill in {year} where the stream {stream} falls over a weir. The mill is "
              f"known for its {grain}, and an old packhorse track runs past its door."]
    t = {"t": title}
    return f"# {title} Mill\n\n{rng.choice(bodies)}\n", [
        (ask(rng, ["Which stream turns the wheel of {t} Mill?", "What stream powers {t} Mill?",
                   "By which stream does {t} Mill stand?"], **t), stream),
        (ask(rng, ["Name the stream beside {t} Mill.", "What is the stream at {t} Mill called?"], **t), stream),
        (ask(rng, ["Who built {t} Mill?", "Who is named as the builder of {t} Mill?", "Whose work was {t} Mill?"],
             **t), builder),
        (ask(rng, ["When was {t} Mill built?", "In what year did {t} Mill get its wheel?"], **t), str(year)),
        (ask(rng, ["What does {t} Mill grind?", "What is {t} Mill known for making?",
                   "What comes out of {t} Mill for sale?"], **t), grain)]


def village(rng: random.Random, title: str) -> tuple[str, list[tuple[str, str]]]:
    canal, settler, year, trade = rng.choice(CANALS), name(rng), rng.randint(1100, 1800), rng.choice(TRADES)
    bodies = [f"{title} is a hill village above the {canal}. The first house there was put up by {settler} in "
              f"{year}. Today {title} makes its living from {trade}, and its carts carry them to the county fairs. "
              f"The village green has a well and a stone cross.",
              f"Set above the {canal}, the village of {title} began in {year}, when {settler} cleared the first "
              f"field. Its people make {trade}, which they sell far beyond the county. Beside the green stands a "
              f"stone cross.",
              f"The village of {title} dates from {year}. Its first settler, {settler}, chose a slope above the "
              f"{canal}. The village trades in {trade}; the well on its green is older than the church."]
    t = {"t": title}
    return f"# {title}\n\n{rng.choice(bodies)}\n", [
        (ask(rng, ["Who founded {t}?", "Who is regarded as the founder of the village of {t}?",
                   "Who first settled {t}?"], **t), settler),
        (ask(rng, ["Which canal runs below {t}?", "Above which canal is {t} built?"], **t), canal),
        (ask(rng, ["When was {t} founded?", "What year did the village of {t} begin?"], **t), str(year)),
        (ask(rng, ["What does {t} sell to other places?", "What trade does the village of {t} live by?",
                   "What goods is {t} famous for?"], **t), trade)]


def lighthouse(rng: random.Random, title: str) -> tuple[str, list[tuple[str, str]]]:
    rock, keeper, year, miles = rng.choice(SKERRIES), name(rng), rng.randint(1700, 1950), rng.randint(8, 31)
    bodies = [f"{title} Light stands on the skerry {rock}. It was first lit in {year}; its keeper for forty years "
              f"was {keeper}. The beam reaches {miles} nautical miles, and a bell hangs beside the lamp room.",
              f"On the skerry {rock}, {title} Light has shown its beam since {year}. {keeper} kept the lamp "
              f"longest. Ships see it from {miles} nautical miles out; in fog a bell is rung.",
              f"{keeper} tended {title} Light, lit in {year} on the bare skerry {rock}. Its lamp carries {miles} "
              f"nautical miles over the water, and two cottages shelter below it."]
    t = {"t": title}
    return f"# {title} Light\n\n{rng.choice(bodies)}\n", [
        (ask(rng, ["On which skerry is {t} Light?", "Which skerry holds {t} Light?"], **t), rock),
        (ask(rng, ["What is the skerry under {t} Light called?", "Name the skerry of {t} Light."], **t), rock),
        (ask(rng, ["Who kept {t} Light the longest?", "Who is remembered as the keeper of {t} Light?"], **t), keeper),
        (ask(rng, ["When was {t} Light first lit?", "Since what year has {t} Light shone?"], **t), str(year)),
        (ask(rng, ["How far can the beam of {t} Light be seen, in nautical miles?",
                   "What is the range of {t} Light in nautical miles?"], **t), str(miles))]


def pottery(rng: random.Random, title: str) -> tuple[str, list[tuple[str, str]]]:
    hamlet, potter, year, ware = rng.choice(HAMLETS), name(rng), rng.randint(1650, 1990), rng.choice(WARES)
    bodies = [f"{title} Pottery sits in the hamlet of {hamlet}, beside a brick kiln and a drying shed. It was set "
              f"up in {year} by {potter}, and its wheels turn out {ware}.",
              f"In the hamlet of {hamlet}, {potter} fired the first kiln of {title} Pottery in {year}. The works now "
              f"ship {ware} by rail; a clay pit lies behind the sheds.",
              f"The {ware} of {title} Pottery are made in the hamlet of {hamlet}. {potter} opened the works in "
              f"{year}, next to an old brick kiln."]
    t = {"t": title}
    return f"# {title} Pottery\n\n{rng.choice(bodies)}\n", [
        (ask(rng, ["In which hamlet is {t} Pottery?", "Where is {t} Pottery found?"], **t), hamlet),
        (ask(rng, ["What hamlet is home to {t} Pottery?", "Name the hamlet of {t} Pottery."], **t), hamlet),
        (ask(rng, ["Who started {t} Pottery?", "Who is the founder of {t} Pottery?", "Whose works was {t} Pottery "
                   "at first?"], **t), potter),
        (ask(rng, ["When did {t} Pottery open?", "In which year was {t} Pottery set up?"], **t), str(year)),
        (ask(rng, ["What does {t} Pottery make?", "What wares come from {t} Pottery?"], **t), ware)]


BROOKS = ["Dunnock", "Wheal", "Ashen", "Tollan", "Brede", "Sarrow"]
ALES = ["dark ale", "mead", "pear brandy", "honey beer", "sloe wine", "cider vinegar"]


def abbey(rng: random.Random, title: str) -> tuple[str, list[tuple[str, str]]]:
    brook, patron, abbot, year, ale = rng.choice(BROOKS), name(rng), name(rng), rng.randint(900, 1500), \
        rng.choice(ALES)
    bodies = [f"{title} Abbey rose beside the brook {brook} after {patron} gave the land in {year}. The abbot "
              f"{abbot} later rebuilt its cloister. The brothers brew {ale}, which is carried to every inn of the "
              f"shire.",
              f"The land for {title} Abbey, on the brook {brook}, was the gift of {patron} in {year}; a century on, "
              f"{abbot} became its most famous abbot. Its cellars hold {ale}, traded across the shire.",
              f"In {year} {patron} endowed {title} Abbey on the brook {brook}. Its {ale} is sold at markets far "
              f"away, and the tomb of the abbot {abbot} lies in its chapter house."]
    t = {"t": title}
    return f"# {title} Abbey\n\n{rng.choice(bodies)}\n", [
        (ask(rng, ["Who founded {t} Abbey?", "Who is regarded as the founder of {t} Abbey?",
                   "Whose gift began {t} Abbey?"], **t), patron),
        (ask(rng, ["Which brook flows past {t} Abbey?", "On which brook does {t} Abbey stand?"], **t), brook),
        (ask(rng, ["When was {t} Abbey founded?", "In what year did {t} Abbey begin?"], **t), str(year)),
        (ask(rng, ["What does {t} Abbey sell?", "What is {t} Abbey famous for making?",
                   "What do the brothers of {t} Abbey trade in?"], **t), ale),
        (ask(rng, ["Who rebuilt the cloister of {t} Abbey?", "Which abbot of {t} Abbey is best remembered?"], **t),
         abbot)]


SECOND_FAMILIES = [mill, village, lighthouse, pottery, abbey]


def lookalikes_second(rng: random.Random) -> tuple[dict[str, str], list[dict]]:
    """Ten records of each family of the second set, named from shared stems."""
    docs: dict[str, str] = {}
    rows: list[dict] = []
    for write in SECOND_FAMILIES:
        titles: list[str] = []
        while len(titles) < FAMILY_SIZE:
            title = rng.choice(STEMS_2) + rng.choice(["", "ing", "ley", "ham", "ton"])
            if title not in titles:
                titles.append(title)
        for title in titles:
            text, questions = write(rng, title)
            file = f"{write.__name__}_{title.lower()}.md"
            docs[file] = text
            rows += [{"question": q, "answer": a, "source": file} for q, a in questions]
    return docs, rows


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
    more_docs, more_rows = lookalikes(rng)
    second_docs, second_rows = lookalikes_second(random.Random(SECOND_SEED))
    return docs | more_docs | second_docs, rows + more_rows + second_rows


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
