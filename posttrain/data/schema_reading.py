"""A data recipe for reading tool schemas: tool-use chats over hundreds of generated tools, so that SFT
teaches a model to read a function's schema rather than to remember a few of them.

`schema_reading_chats(count, seed)` returns rows in the `messages` format with a `tools` column (OpenAI
style: assistant `tool_calls` with arguments as JSON text, `tool` results, final answers), ready for
`.sft(rows, chat_template="chatml-tools")`. `schema_reading_tools()` lists the tools they draw on.

What the rows cover, each kind a share of the rows:

- the tools: 16 domains x 3 objects x 5 actions = 240 functions, each with a one-line description and
  2 to 5 typed parameters drawn from its object's own: strings, enums, integers, numbers, dates
  (YYYY-MM-DD), times (HH:MM), lists and nested objects (two kinds); some required, some optional;
- the values: half of the free-text strings and list items (names, codes, addresses, words) invented
  for the row in the shape of the parameter's own, so that a value is copied from the request, not
  recalled;
- the requests: the action phrased many ways (a bare command, please, a question, I'd like to, ...),
  each argument said either in its own words ("for 4 people") or by its parameter's name ("party size
  4"), in any order; optional arguments are passed only when the request gives them (about two in
  three of them are given);
- the offer: one to four tools, the right one among others from its own domain and from elsewhere
  (`simple`, `multiple`);
- parallel calls: two requests in one message, answered by two calls in one reply (`parallel`);
- no-call questions: arithmetic, spelling and everyday questions, and requests in the tools' own domain
  that no offered tool can serve, answered directly without a call (`irrelevance`);
- a fifth of the calls go on to the tool's result and the assistant's final answer.

Each row records its BFCL category in `category`. The rows are deterministic for a `(count, seed)`.
Held-out checks belong on tools written apart from this vocabulary (the function-calling example's
held-out set has its own domains, tools and wordings).

>>> rows = schema_reading_chats(4, seed=0)
>>> sorted(rows[0])
['category', 'messages', 'tools']
>>> len(schema_reading_tools()) >= 200
True
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any

from posttrain.errors import DataError, Problem, short

# --- the vocabulary ------------------------------------------------------------------------------------------------

PEOPLE = ["Anna Berg", "Ben Okafor", "Carla Diaz", "Dev Patel", "Elena Rossi", "Farid Haddad", "Grace Liu",
          "Hugo Martin", "Ines Silva", "Jonas Weber", "Kira Novak", "Liam Byrne", "Maya Cohen", "Noah Kim"]
CITIES = ["Paris", "Rome", "Oslo", "Madrid", "Lisbon", "Vienna", "Prague", "Dublin", "Athens", "Berlin",
          "Warsaw", "Zurich", "Helsinki", "Budapest", "Porto", "Munich", "Krakow", "Riga"]
STREETS = ["12 Elm Street", "4 Harbour Road", "88 Mill Lane", "7 Station Square", "31 Park Avenue",
           "150 King Road", "9 Bridge Street", "23 Orchard Way"]
EMAILS = ["anna@example.com", "ben@example.com", "carla@example.com", "dev@example.com", "elena@example.org",
          "team@example.net", "sales@example.com", "ops@example.org"]
TITLES = ["Quarterly review", "Spring sale", "Morning run", "Team lunch", "Budget draft", "Weekly sync",
          "Launch plan", "Summer trip", "Book notes", "Garden ideas"]
WORDS = ["blue", "urgent", "family", "work", "draft", "travel", "home", "archive", "weekly", "shared"]
PRODUCTS = ["desk lamp", "yoga mat", "coffee grinder", "rain jacket", "phone case", "water bottle",
            "office chair", "travel mug", "backpack", "wool scarf"]
CODES = ["AB-1042", "ZX-3310", "QK-7781", "MP-2209", "TR-5634", "LW-9012", "HN-4478", "CE-6620"]


@dataclass(frozen=True)
class Param:
    """One parameter: its name, JSON type, description, how values are drawn and how a request says one
    (`phrases`, with `{v}` for the value; a request may also name the parameter itself)."""

    name: str
    type: str
    description: str
    values: Any                      # a list to choose from, (lo, hi) for numbers, or a dict of Params (object)
    phrases: tuple[str, ...]
    enum: bool = False


def p(name: str, type_: str, description: str, values: Any, *phrases: str, enum: bool = False) -> Param:
    return Param(name, type_, description, values, phrases, enum)


DATE = p("date", "string", "Date as YYYY-MM-DD", "date", "on {v}", "for {v}")
TIME = p("time", "string", "Time as HH:MM", "time", "at {v}")
LIMIT = p("limit", "integer", "Most results to return", (2, 50), "showing at most {v}", "up to {v} results")
SORT = p("sort_by", "string", "Order of results", ["newest", "oldest", "price", "rating"], "sorted by {v}",
         "ordered by {v}", enum=True)
NOTE = p("note", "string", "A short note to attach", WORDS, "with the note '{v}'", "noting '{v}'")
PRIORITY = p("priority", "string", "How urgent it is", ["low", "normal", "high"], "with {v} priority",
             "as {v} priority", enum=True)
ADDRESS = p("address", "object", "Where it goes", {
    "street": p("street", "string", "Street and number", STREETS),
    "city": p("city", "string", "City", CITIES)}, "to {street}, {city}", "at {street} in {city}")
CONTACT = p("contact", "object", "Who to reach about it", {
    "name": p("name", "string", "Full name", PEOPLE),
    "email": p("email", "string", "Email address", EMAILS)}, "with {name} ({email}) as the contact",
             "contact {name} at {email}")

# domain -> objects, each (noun, its identifying parameter, its other parameters)
DOMAINS: dict[str, list[tuple[str, Param, list[Param]]]] = {
    "restaurants": [
        ("table", p("restaurant", "string", "Name of the restaurant", ["Casa Lina", "The Olive", "Blue Door",
                                                                          "Kato", "Le Jardin"], "at {v}"),
         [p("party_size", "integer", "Number of guests", (1, 12), "for {v} people", "for a party of {v}"),
          DATE, TIME, p("seating", "string", "Where to sit", ["indoor", "outdoor", "bar"], "with {v} seating",
                        enum=True)]),
        ("menu", p("restaurant", "string", "Name of the restaurant", ["Casa Lina", "The Olive", "Blue Door",
                                                                         "Kato"], "at {v}", "from {v}"),
         [p("diet", "string", "Dietary need", ["vegan", "vegetarian", "gluten-free", "none"], "that is {v}",
            enum=True), p("language", "string", "Language of the menu", ["English", "French", "Spanish"],
                          "in {v}")]),
        ("review", p("restaurant", "string", "Name of the restaurant", ["Casa Lina", "Kato", "Le Jardin"],
                     "for {v}", "of {v}"),
         [p("stars", "integer", "Rating from 1 to 5", (1, 5), "with {v} stars", "rated {v} stars"),
          p("comment", "string", "What to say", ["great service", "too noisy", "lovely pasta"], "saying '{v}'"),
          LIMIT]),
    ],
    "weather": [
        ("forecast", p("city", "string", "City name", CITIES, "for {v}", "in {v}"),
         [p("days", "integer", "How many days ahead", (1, 10), "for the next {v} days", "over {v} days"),
          p("unit", "string", "Temperature unit", ["celsius", "fahrenheit"], "in {v}", enum=True)]),
        ("air_quality", p("city", "string", "City name", CITIES, "in {v}", "for {v}"),
         [DATE, p("pollutant", "string", "Which pollutant", ["pm25", "ozone", "no2"], "for {v}", enum=True)]),
        ("storm_alert", p("region", "string", "Region name", ["North Coast", "Alpine", "Lowlands", "Delta"],
                          "for the {v} region", "in {v}"),
         [p("severity", "string", "Lowest severity to report", ["minor", "moderate", "severe"],
            "of {v} severity or worse", enum=True), LIMIT]),
    ],
    "travel": [
        ("flight", p("destination", "string", "Arrival city", CITIES, "to {v}"),
         [p("origin", "string", "Departure city", CITIES, "from {v}"), DATE,
          p("cabin", "string", "Cabin class", ["economy", "premium", "business"], "in {v}", "flying {v}",
            enum=True), p("passengers", "integer", "Number of travellers", (1, 6), "for {v} passengers")]),
        ("hotel", p("city", "string", "City of the hotel", CITIES, "in {v}"),
         [p("check_in", "string", "Arrival date as YYYY-MM-DD", "date", "checking in {v}", "from {v}"),
          p("nights", "integer", "Number of nights", (1, 14), "for {v} nights"),
          p("max_price", "number", "Highest price per night", (40.0, 400.0), "under {v} a night")]),
        ("rental_car", p("pickup_city", "string", "Where to pick the car up", CITIES, "in {v}", "picked up in {v}"),
         [DATE, p("car_type", "string", "Kind of car", ["compact", "estate", "van", "electric"], "a {v} one",
                  "of type {v}", enum=True), p("days", "integer", "Rental length in days", (1, 21),
                                               "for {v} days"), CONTACT]),
    ],
    "finance": [
        ("payment", p("recipient", "string", "Who is paid", PEOPLE, "to {v}"),
         [p("amount", "number", "Amount of money", (5.0, 900.0), "of {v}", "for {v}"),
          p("currency", "string", "Currency code", ["EUR", "USD", "GBP", "CHF"], "in {v}", enum=True), NOTE]),
        ("invoice", p("invoice_id", "string", "Invoice number", CODES, "number {v}", "{v}"),
         [p("due_date", "string", "Due date as YYYY-MM-DD", "date", "due {v}", "due on {v}"),
          p("status", "string", "Invoice status", ["open", "paid", "overdue"], "marked {v}", enum=True)]),
        ("exchange_rate", p("base", "string", "Currency to convert from", ["EUR", "USD", "GBP", "JPY"], "from {v}"),
         [p("target", "string", "Currency to convert to", ["CHF", "CAD", "NOK", "PLN"], "to {v}"),
          p("amount", "number", "Amount to convert", (1.0, 5000.0), "for {v}"), DATE]),
    ],
    "music": [
        ("playlist", p("name", "string", "Playlist name", ["Road trip", "Focus", "Sunday", "Workout mix"],
                       "called '{v}'", "named '{v}'"),
         [p("genre", "string", "Music genre", ["jazz", "rock", "folk", "electronic"], "with {v} songs", enum=True),
          p("length_minutes", "integer", "Length in minutes", (10, 180), "lasting {v} minutes"),
          p("tags", "array", "Labels for it", WORDS, "tagged {v}")]),
        ("song", p("title", "string", "Song title", ["Blue Morning", "River Song", "Last Train", "Paper Moon"],
                   "'{v}'", "called '{v}'"),
         [p("artist", "string", "Who sings it", ["Nora Vale", "The Pines", "Ode Kalu"], "by {v}"),
          p("volume", "integer", "Volume from 0 to 100", (0, 100), "at volume {v}")]),
        ("concert", p("city", "string", "City", CITIES, "in {v}"),
         [DATE, p("genre", "string", "Music genre", ["jazz", "rock", "classical"], "of {v}", enum=True), LIMIT]),
    ],
    "fitness": [
        ("workout", p("activity", "string", "Kind of exercise", ["run", "swim", "cycle", "row", "yoga"],
                      "a {v}", "of type {v}", enum=True),
         [p("minutes", "integer", "Duration in minutes", (5, 120), "of {v} minutes", "lasting {v} minutes"),
          DATE, p("distance_km", "number", "Distance in km", (1.0, 42.0), "over {v} km")]),
        ("meal_log", p("meal", "string", "Which meal", ["breakfast", "lunch", "dinner", "snack"], "for {v}",
                       enum=True),
         [p("calories", "integer", "Calories eaten", (100, 1500), "of {v} calories", "with {v} kcal"), DATE, NOTE]),
        ("sleep_record", p("date", "string", "Night as YYYY-MM-DD", "date", "for the night of {v}", "on {v}"),
         [p("hours", "number", "Hours slept", (3.0, 11.0), "of {v} hours"),
          p("quality", "string", "How well", ["poor", "fair", "good"], "rated {v}", enum=True)]),
    ],
    "library": [
        ("book_loan", p("isbn", "string", "Book ISBN", ["978-0141", "978-0262", "978-1492", "978-0593"], "with ISBN {v}",
                        "for ISBN {v}"),
         [p("member", "string", "Member's name", PEOPLE, "for {v}"),
          p("weeks", "integer", "Loan length in weeks", (1, 6), "for {v} weeks")]),
        ("catalog", p("query", "string", "Words to search for", ["sea stories", "bird guides", "chess", "baking"],
                      "for '{v}'", "about '{v}'"),
         [p("format", "string", "Format", ["print", "ebook", "audio"], "in {v}", "as {v}", enum=True), LIMIT, SORT]),
        ("room", p("room", "string", "Study room name", ["Reading Room", "Room A", "Room B", "Quiet Room"], "{v}"),
         [DATE, TIME, p("hours", "integer", "How many hours", (1, 4), "for {v} hours")]),
    ],
    "shopping": [
        ("order", p("product", "string", "Product name", PRODUCTS, "for a {v}", "of the {v}"),
         [p("quantity", "integer", "How many", (1, 10), "times {v}", "quantity {v}"),
          p("color", "string", "Colour", ["black", "white", "red", "green"], "in {v}", enum=True), ADDRESS]),
        ("wishlist", p("product", "string", "Product name", PRODUCTS, "with the {v}", "for the {v}"),
         [p("max_price", "number", "Highest price", (5.0, 300.0), "under {v}"), NOTE]),
        ("return_request", p("order_id", "string", "Order number", CODES, "for order {v}"),
         [p("reason", "string", "Why", ["damaged", "wrong size", "late"], "because it was {v}", enum=True),
          p("refund", "string", "Refund method", ["card", "voucher"], "as a {v} refund", enum=True)]),
    ],
    "email": [
        ("email", p("to", "string", "Recipient address", EMAILS, "to {v}"),
         [p("subject", "string", "Subject line", TITLES, "with the subject '{v}'", "titled '{v}'"),
          p("cc", "string", "Copy to", EMAILS, "copying {v}", "cc {v}"), PRIORITY]),
        ("draft", p("subject", "string", "Subject line", TITLES, "titled '{v}'", "about '{v}'"),
         [p("to", "string", "Recipient address", EMAILS, "for {v}"), NOTE]),
        ("mailing_list", p("list_name", "string", "List name", ["news", "alerts", "members", "beta"], "'{v}'",
                           "called {v}"),
         [p("email", "string", "Address", EMAILS, "for {v}", "with {v}")]),
    ],
    "calendar": [
        ("meeting", p("title", "string", "Meeting title", TITLES, "called '{v}'", "titled '{v}'"),
         [DATE, TIME, p("duration_minutes", "integer", "Length in minutes", (15, 180), "for {v} minutes"),
          p("attendees", "array", "People invited", PEOPLE, "with {v}")]),
        ("reminder", p("text", "string", "What to remember", ["call mum", "water plants", "pay rent",
                                                             "renew passport"], "to {v}"),
         [DATE, TIME, PRIORITY]),
        ("holiday", p("start_date", "string", "First day as YYYY-MM-DD", "date", "starting {v}", "from {v}"),
         [p("end_date", "string", "Last day as YYYY-MM-DD", "date", "until {v}", "ending {v}"), NOTE]),
    ],
    "home": [
        ("thermostat", p("room", "string", "Room", ["kitchen", "bedroom", "office", "living room"], "in the {v}"),
         [p("temperature", "number", "Target in degrees", (15.0, 26.0), "to {v} degrees", "at {v} degrees"),
          p("mode", "string", "Heating mode", ["heat", "cool", "auto"], "on {v}", enum=True)]),
        ("lights", p("room", "string", "Room", ["kitchen", "hall", "garden", "bathroom"], "in the {v}"),
         [p("brightness", "integer", "Brightness in percent", (0, 100), "to {v} percent"),
          p("color", "string", "Light colour", ["warm", "cool", "red", "blue"], "in {v}", enum=True)]),
        ("cleaning", p("area", "string", "Area to clean", ["stairs", "kitchen", "garage", "windows"], "the {v}"),
         [DATE, TIME, p("cleaner", "string", "Who cleans", PEOPLE, "by {v}", "with {v}")]),
    ],
    "health": [
        ("appointment", p("doctor", "string", "Doctor's name", ["Dr. Lund", "Dr. Moreau", "Dr. Tan", "Dr. Ahmed"],
                          "with {v}"),
         [DATE, TIME, p("reason", "string", "Reason for visit", ["checkup", "vaccine", "back pain"], "for a {v}")]),
        ("prescription", p("medicine", "string", "Medicine", ["ibuprofen", "amoxicillin", "cetirizine"], "for {v}"),
         [p("doses", "integer", "Number of doses", (5, 90), "of {v} doses"),
          p("pharmacy", "string", "Pharmacy", ["Central", "North Side", "Riverside"], "at the {v} pharmacy"),
          CONTACT]),
        ("symptom_log", p("symptom", "string", "Symptom", ["headache", "cough", "fever", "rash"], "of a {v}"),
         [p("severity", "integer", "From 1 to 10", (1, 10), "at level {v}", "rated {v} of 10"), DATE, NOTE]),
    ],
    "jobs": [
        ("job_posting", p("role", "string", "Job title", ["data analyst", "nurse", "welder", "designer"],
                          "for a {v}"),
         [p("city", "string", "Where", CITIES, "in {v}"), p("salary", "number", "Yearly salary", (20000.0, 90000.0),
                                                            "paying {v}"),
          p("remote", "string", "Remote policy", ["onsite", "hybrid", "remote"], "that is {v}", enum=True)]),
        ("application", p("job_id", "string", "Job reference", CODES, "for job {v}"),
         [p("applicant", "string", "Applicant's name", PEOPLE, "for {v}", "from {v}"), NOTE]),
        ("interview", p("candidate", "string", "Candidate's name", PEOPLE, "with {v}"),
         [DATE, TIME, p("format", "string", "Interview format", ["video", "phone", "in person"], "by {v}",
                        enum=True)]),
    ],
    "pets": [
        ("vet_visit", p("pet_name", "string", "Pet's name", ["Biscuit", "Luna", "Rex", "Mochi"], "for {v}"),
         [DATE, TIME, p("species", "string", "Kind of animal", ["dog", "cat", "rabbit"], "a {v}", enum=True)]),
        ("pet_food", p("brand", "string", "Food brand", ["Happy Paws", "Farm Feast", "Nutri"], "from {v}"),
         [p("kilograms", "number", "Weight in kg", (1.0, 20.0), "of {v} kg"), ADDRESS]),
        ("walker", p("pet_name", "string", "Pet's name", ["Biscuit", "Luna", "Rex"], "for {v}"),
         [DATE, p("minutes", "integer", "Walk length in minutes", (15, 90), "for {v} minutes")]),
    ],
    "education": [
        ("course", p("subject", "string", "Subject", ["algebra", "French", "drawing", "chemistry"], "in {v}",
                     "on {v}"),
         [p("level", "string", "Level", ["beginner", "intermediate", "advanced"], "at {v} level", enum=True),
          LIMIT]),
        ("grade", p("student", "string", "Student's name", PEOPLE, "for {v}"),
         [p("score", "number", "Score out of 100", (0.0, 100.0), "of {v}", "with {v} points"),
          p("subject", "string", "Subject", ["algebra", "history", "biology"], "in {v}")]),
        ("tutor", p("subject", "string", "Subject", ["physics", "Spanish", "piano"], "for {v}"),
         [DATE, TIME, p("sessions", "integer", "Number of sessions", (1, 10), "for {v} sessions")]),
    ],
    "news": [
        ("headlines", p("topic", "string", "Topic", ["sport", "science", "politics", "business"], "about {v}",
                        "on {v}", enum=True),
         [p("country", "string", "Country code", ["FR", "DE", "IT", "ES"], "from {v}"), LIMIT, SORT]),
        ("article", p("article_id", "string", "Article id", CODES, "{v}", "with id {v}"),
         [p("summary_length", "string", "Summary length", ["short", "medium", "long"], "as a {v} summary",
            enum=True)]),
        ("subscription", p("newsletter", "string", "Newsletter", ["Morning Brief", "Tech Weekly", "Green Notes"],
                           "to {v}", "for {v}"),
         [p("email", "string", "Address", EMAILS, "for {v}"), p("frequency", "string", "How often",
                                                                 ["daily", "weekly"], "{v}", enum=True)]),
    ],
}

# action -> (verb in a name, how a description says it, how a request says it with {o} for the object)
ACTIONS = {
    "get": ("get", "Get the details of a {o}.", ["get the {o}", "look up the {o}", "show me the {o}",
                                                 "fetch the {o}"]),
    "create": ("create", "Create a new {o}.", ["create a {o}", "make a new {o}", "set up a {o}", "add a {o}"]),
    "update": ("update", "Change an existing {o}.", ["update the {o}", "change the {o}", "edit the {o}",
                                                      "modify the {o}"]),
    "cancel": ("cancel", "Cancel a {o}.", ["cancel the {o}", "call off the {o}", "drop the {o}"]),
    "search": ("search", "Search for {o}s.", ["search for {o}s", "find {o}s", "look for {o}s",
                                              "list {o}s"]),
}
OPENERS = ["{a}", "Please {a}", "Can you {a}?", "Could you {a}, please?", "I'd like to {a}", "I need to {a}",
           "Go ahead and {a}", "{a}, thanks", "Hey, {a}", "Would you {a}?", "Help me {a}", "Quick one: {a}"]
NAMED = ["{label} {v}", "with {label} {v}", "{label}: {v}", "{label} set to {v}", "using {label} {v}"]
PAIR_JOIN = ["{a} Also, {b}", "{a} And then {b}", "Two things. {a} Then {b}", "{a} Plus {b}"]

NO_CALL = [("What is the capital of Italy?", "The capital of Italy is Rome."),
           ("Who wrote Hamlet?", "William Shakespeare wrote Hamlet."),
           ("How many legs does a spider have?", "A spider has eight legs."),
           ("What colour is grass?", "Grass is green."), ("Which planet is the largest?", "Jupiter."),
           ("What do bees make?", "Honey."), ("Translate 'thank you' into French.", "Merci."),
           ("How many continents are there?", "There are seven continents."),
           ("What is the plural of mouse?", "Mice."), ("What gas do plants take in?", "Carbon dioxide."),
           ("Who was the first person on the moon?", "Neil Armstrong."), ("What is H2O?", "Water."),
           ("How many sides does a hexagon have?", "Six."), ("What language is spoken in Brazil?", "Portuguese."),
           ("Write a short greeting.", "Hello there!"), ("Name a fruit that is yellow.", "A banana."),
           ("Tell me a synonym for happy.", "Joyful."), ("What is the opposite of cold?", "Hot."),
           ("Who discovered penicillin?", "Alexander Fleming."), ("Say hello in Spanish.", "Hola!"),
           ("How many minutes are in an hour?", "60 minutes."), ("What is the boiling point of water?",
                                                                  "100 degrees Celsius at sea level."),
           ("Give me a word that rhymes with cat.", "Hat."), ("What is the largest ocean?", "The Pacific."),
           ("How are you today?", "I'm well, thank you! How can I help?"), ("Thanks for your help!",
                                                                         "You're welcome!"),
           ("Tell me a fun fact.", "Octopuses have three hearts."), ("What does CPU stand for?",
                                                                    "Central processing unit.")]
NO_FIT = ["Sorry, none of the tools I have can do that.", "I can't do that with the tools available here.",
          "None of the available tools handles that, so I can't do it."]
# what a request in the tools' own domain may ask that no offered tool does
NO_FIT_ASKS = ["delete my account", "print the {o}", "translate the {o} into German", "share the {o} on social media",
               "rate the {o}", "explain why the {o} failed", "merge two {o}s", "undo the last change to the {o}"]

SHARES = {"simple": 0.15, "multiple": 0.35, "parallel": 0.25, "irrelevance": 0.25}
RESULT_SHARE = 0.2


# --- the tools -----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Tool:
    name: str
    domain: str
    noun: str
    action: str
    key: Param
    params: tuple[Param, ...]
    required: frozenset[str]

    def schema(self) -> dict:
        return {"type": "function", "function": {
            "name": self.name, "description": ACTIONS[self.action][1].format(o=self.noun.replace("_", " ")),
            "parameters": {"type": "object", "properties": {q.name: _prop(q) for q in (self.key, *self.params)},
                           "required": [q.name for q in (self.key, *self.params) if q.name in self.required]}}}


def _prop(q: Param) -> dict:
    if q.type == "object":
        return {"type": "object", "description": q.description,
                "properties": {k: _prop(v) for k, v in q.values.items()}, "required": list(q.values)}
    if q.type == "array":
        return {"type": "array", "description": q.description, "items": {"type": "string"}}
    prop: dict[str, Any] = {"type": q.type, "description": q.description}
    if q.enum:
        prop["enum"] = list(q.values)
    return prop


def schema_reading_tools(seed: int = 0) -> list[Tool]:
    """The recipe's tools: every domain's objects under every action, each with its object's identifying
    parameter (required) and two to four of its other parameters (some required, some optional)."""
    rng = random.Random(f"schema-reading-tools-{seed}")
    tools = []
    for domain, objects in DOMAINS.items():
        for noun, key, others in objects:
            for action, (verb, _, _) in ACTIONS.items():
                chosen = rng.sample(others, min(len(others), rng.randint(1, 3)))
                required = {key.name} | {q.name for q in chosen if rng.random() < 0.4}
                tools.append(Tool(f"{verb}_{noun}", domain, noun, action, key, tuple(chosen), frozenset(required)))
    return tools


# --- the rows ------------------------------------------------------------------------------------------------------

# A share of free-text string values (not enums) is invented for the row, in the shape of the parameter's
# own values (a code, a name, an address, lower-case words), so that the model learns to copy a value
# from the request rather than to recall one it has seen.
INVENTED_SHARE = 0.5
OPTIONAL_SHARE = 0.65            # how often a request gives an optional argument
SYLLABLES = ["ka", "lo", "ver", "min", "tas", "rel", "dor", "sa", "bri", "nu", "fen", "gal", "mor", "ti", "zan",
             "quel", "pra", "hol", "ve", "run", "os", "ish", "bel", "cor", "dun", "mi", "tor", "an", "wel", "sto"]


def _word(rng: random.Random, syllables: tuple[int, int] = (2, 3)) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(*syllables)))


def _invented(values: list, rng: random.Random) -> str:
    """A new value shaped like `values`: an address when '@', a street when a number and words, a capital
    code when capitals alone, a code when they hold digits, a name when they are capitalised, else
    lower-case words."""
    sample = str(values[0])
    if "@" in sample:
        return f"{_word(rng, (1, 2))}@{_word(rng, (1, 2))}.{rng.choice(['com', 'org', 'net'])}"
    if sample[:1].isdigit() and " " in sample:                         # a street and number
        return f"{rng.randint(1, 240)} {_word(rng).capitalize()} {rng.choice(['Street', 'Road', 'Lane', 'Row', 'Way'])}"
    if sample.isalpha() and sample.isupper():                           # a code such as a currency
        return "".join(rng.choice("ABCDEFGHKLMNPRSTVWXZ") for _ in sample)
    if any(ch.isdigit() for ch in sample):
        letters = "".join(rng.choice("ABCDEFGHKLMNPRSTVWXZ") for _ in range(rng.randint(1, 4)))
        digits = str(rng.randint(1, 10 ** rng.randint(2, 4) - 1))
        return rng.choice([f"{letters}-{digits}", f"{letters} {digits}", f"{letters}{digits}"])
    if sample[:1].isupper():
        return " ".join(_word(rng).capitalize() for _ in range(rng.randint(1, 2)))
    return " ".join(_word(rng) for _ in range(rng.randint(1, 2)))


def _value(q: Param, rng: random.Random) -> Any:
    if (q.type == "string" and not q.enum and isinstance(q.values, list) and q.values
            and rng.random() < INVENTED_SHARE):
        return _invented(q.values, rng)
    if q.values == "date":
        return f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    if q.values == "time":
        return f"{rng.randint(7, 21):02d}:{rng.choice(['00', '15', '30', '45'])}"
    if q.type == "object":
        return {k: _value(v, rng) for k, v in q.values.items()}
    if q.type == "array":
        return [_invented(q.values, rng) if rng.random() < INVENTED_SHARE else v for v in rng.sample(q.values, 2)]
    if q.type == "integer":
        return rng.randint(*q.values)
    if q.type == "number":
        lo, hi = q.values
        return round(rng.uniform(lo, hi) * 2) / 2 if hi < 1000 else float(rng.randrange(int(lo), int(hi), 500))
    return rng.choice(q.values)


def _said(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return " and ".join(value)
    return str(value)


def _clause(q: Param, value: Any, rng: random.Random) -> str:
    if q.type == "object":
        template = rng.choice(q.phrases)
        inner = ", ".join(_said(value[k]) for k in q.values)
        return template.format(**value) if rng.random() < 0.7 else f"{q.name.replace('_', ' ')} {inner}"
    if q.phrases and rng.random() < 0.6:
        return rng.choice(q.phrases).format(v=_said(value))
    return rng.choice(NAMED).format(label=q.name.replace("_", " "), v=_said(value))


def _request(tool: Tool, rng: random.Random) -> tuple[str, dict]:
    args: dict[str, Any] = {tool.key.name: _value(tool.key, rng)}
    for q in tool.params:
        if q.name in tool.required or rng.random() < OPTIONAL_SHARE:
            args[q.name] = _value(q, rng)
    order = [tool.key, *[q for q in tool.params if q.name in args]]
    first, rest = order[0], order[1:]
    rng.shuffle(rest)
    clauses = [_clause(q, args[q.name], rng) for q in [first, *rest]]
    act = rng.choice(ACTIONS[tool.action][2]).format(o=tool.noun.replace("_", " "))
    body = act + " " + " ".join(_join(clauses, rng))
    text = rng.choice(OPENERS).format(a=body)
    text = text[0].upper() + text[1:]
    if not text.endswith(("?", ".")):
        text += "."
    return text, args


def _join(clauses: list[str], rng: random.Random) -> list[str]:
    if len(clauses) < 3 or rng.random() < 0.5:
        return clauses
    return [", ".join(clauses[:-1]) + ",", "and " + clauses[-1]]


def _offer(tools: list[Tool], must: list[Tool], size: int, rng: random.Random) -> list[Tool]:
    """`must` among `size` tools: some from the same domain (harder to tell apart), the rest from elsewhere."""
    names = {t.name for t in must}
    same = [t for t in tools if t.domain in {m.domain for m in must} and t.name not in names]
    other = [t for t in tools if t.domain not in {m.domain for m in must}]
    offered = list(must)
    while len(offered) < size:
        pool = same if same and rng.random() < 0.5 else other
        pick = rng.choice(pool)
        if pick.name not in {t.name for t in offered}:
            offered.append(pick)
    rng.shuffle(offered)
    return offered


def _call_message(calls: list[tuple[str, dict]], rng: random.Random) -> dict[str, Any]:
    return {"role": "assistant", "content": None, "tool_calls": [
        {"id": f"call_{rng.randrange(10**6):06d}", "type": "function",
         "function": {"name": name, "arguments": json.dumps(args)}} for name, args in calls]}


def _row(tools: list[Tool], rng: random.Random) -> dict:
    roll, category = rng.random(), "irrelevance"
    for name, share in SHARES.items():
        if roll < share:
            category = name
            break
        roll -= share
    if category == "irrelevance":
        offered = _offer(tools, [rng.choice(tools)], rng.randint(1, 4), rng)
        if rng.random() < 0.5:
            question, answer = rng.choice(NO_CALL)
            if rng.random() < 0.4:
                a, b = rng.randint(2, 60), rng.randint(2, 60)
                question, answer = rng.choice([(f"What is {a} plus {b}?", f"{a} plus {b} is {a + b}."),
                                               (f"What is {a} times {b}?", f"{a} times {b} is {a * b}.")])
        else:
            question = rng.choice(OPENERS).format(a=rng.choice(NO_FIT_ASKS).format(
                o=rng.choice(offered).noun.replace("_", " ")))
            question = question[0].upper() + question[1:]
            answer = rng.choice(NO_FIT)
        messages = [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
        return {"messages": messages, "tools": [t.schema() for t in offered], "category": category}
    if category == "parallel":
        first = rng.choice(tools)
        second = first if rng.random() < 0.4 else rng.choice([t for t in tools if t.name != first.name])
        (text_a, args_a), (text_b, args_b) = _request(first, rng), _request(second, rng)
        if second is first and args_a == args_b:
            return _row(tools, rng)
        text = rng.choice(PAIR_JOIN).format(a=text_a, b=text_b[0].lower() + text_b[1:] if rng.random() < 0.5
                                            else text_b)
        calls = [(first.name, args_a), (second.name, args_b)]
        must = [first] if second is first else [first, second]
        offered = _offer(tools, must, max(len(must), rng.randint(1, 3)), rng)
    else:
        tool = rng.choice(tools)
        text, args = _request(tool, rng)
        calls = [(tool.name, args)]
        offered = [tool] if category == "simple" else _offer(tools, [tool], rng.randint(2, 4), rng)
    reply = _call_message(calls, rng)
    chat: list[dict[str, Any]] = [{"role": "user", "content": text}, reply]
    if rng.random() < RESULT_SHARE:
        for call in reply["tool_calls"]:
            chat.append({"role": "tool", "tool_call_id": call["id"], "content": '{"status": "ok"}'})
        chat.append({"role": "assistant", "content": "Done." if len(calls) == 1 else "Both are done."})
    return {"messages": chat, "tools": [t.schema() for t in offered], "category": category}


def schema_reading_chats(count: int = 480, seed: int = 0) -> list[dict]:
    """`count` distinct tool-use chats over the recipe's tools (see the module's docstring), deterministic
    for a `(count, seed)`: `{"messages", "tools", "category"}` rows for `.sft(rows, chat_template=
    "chatml-tools")`."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise DataError(Problem("schema_reading_chats, argument 'count'", f"is {short(count)}",
                                "give a whole number of rows, 1 or more (e.g. 480)"))
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise DataError(Problem("schema_reading_chats, argument 'seed'", f"is {short(seed)}",
                                "give a whole number, e.g. 0"))
    tools, rng = schema_reading_tools(seed), random.Random(f"schema-reading-{seed}")
    rows: list[dict] = []
    seen: set[str] = set()
    while len(rows) < count:
        row = _row(tools, rng)
        key = json.dumps(row["messages"][:2], sort_keys=True)
        if key not in seen:
            seen.add(key)
            rows.append(row)
    return rows


__all__ = ["Param", "Tool", "schema_reading_chats", "schema_reading_tools"]
