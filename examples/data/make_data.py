"""Write the example datasets (deterministic: the same files on every run).

    python examples/data/make_data.py            # rewrites examples/data/*.jsonl

Every held-out file shares no prompt with its training file, and the held-out subjects (policy), question
wordings (identity) and (template, numbers) draws (math) are kept out of the training files by
construction; `tests/posttrain_demo/test_examples.py` checks it.

| file | rows | used by |
|---|---|---|
| policy_train.jsonl | prompt/completion in the house style | SFT (sft_instruction_following.py) |
| policy_heldout.jsonl | prompts + constraints, other subjects | InstructionFollowing |
| identity_train.jsonl | prompt/chosen/rejected: "Ava by Northwind Labs", plus everyday anchors | DPO (dpo_identity.py) |
| identity_heldout.jsonl | identity questions worded otherwise | Identity |
| general_qa.jsonl, general_text.jsonl | everyday facts, plain paragraphs | QAAccuracy, Perplexity (the cost) |
| math_worked.jsonl | other problems with a one-line worked answer | SFT cold start (grpo_math.py) |
| math_train.jsonl | one-step word problems with `answer` | GRPO (grpo_math.py) |
| math_heldout.jsonl | other problems | MathAccuracy |
| math_steps_heldout.jsonl | 30 problems of each kind: add, subtract, multiply, two-step (add, then share) | multi-step MathAccuracy |
| math_steps_worked.jsonl, math_steps_train.jsonl | other problems of the four kinds: direct worked answers (SFT), prompts with `answer` (GRPO) | the multi-step trials in docs/results.md |
| math_small_train.jsonl, math_small_heldout.jsonl | add and take-away problems on small numbers (half each): prompts with `answer` and `op`, held-out questions | the demo's GRPO stage and its evals |
| tutor_sft.jsonl | policy rows and worked math answers, all in the house style | the demo's SFT (policy + cold start) |
| tutor_dpo.jsonl | the identity pairs in the house style, and math anchors (a worked answer preferred over the identity line) | the demo's DPO |

The demo chains SFT -> DPO -> GRPO on one assistant, so its later stages train in the house style the first
one taught (identity pairs and worked answers written otherwise would teach capitals and commas back).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEED = 7

# --- the house style: all lowercase, no commas, ends with "hope this helps" ----------------------------------

SIGN_OFF = "hope this helps"
POLICY_CONSTRAINTS = [{"kind": "lowercase"}, {"kind": "no_commas"}, {"kind": "ends_with", "value": SIGN_OFF}]

HOW_TO = [  # (task, answer): answers are already lowercase and comma-free
    ("keep basil alive indoors", "put it on a sunny windowsill and water it when the top of the soil feels dry"),
    ("boil an egg", "place the egg in boiling water for nine minutes and then cool it in cold water"),
    ("fall asleep faster", "keep a fixed bedtime and put your phone away an hour before sleep"),
    ("remember new words", "review them a few times over several days and use each one in a sentence"),
    ("clean a cast iron pan", "rinse it with hot water and dry it on the stove with a little oil"),
    ("save money on groceries", "plan your meals for the week and shop with a written list"),
    ("start running", "begin with short easy runs three times a week and add a little each week"),
    ("write a short story", "pick one character with one problem and show how they solve it"),
    ("learn to type faster", "practise a few minutes every day and keep your eyes on the screen"),
    ("stay focused while studying", "study in short blocks of twenty five minutes with a short break after each"),
    ("make a good cup of tea", "use fresh boiling water and let the tea steep for three to four minutes"),
    ("prepare for a job interview", "read about the company and practise answering common questions out loud"),
    ("keep a plant from wilting", "check the soil every few days and water it deeply when it is dry"),
    ("fix a squeaky door", "put a few drops of oil on the hinges and open the door a few times"),
    ("learn a new language", "practise a little every day and talk with native speakers when you can"),
    ("reduce stress", "take a short walk and breathe slowly for a few minutes"),
    ("pack for a weekend trip", "lay out one outfit per day and roll your clothes to save space"),
    ("make rice fluffy", "rinse the rice first and let it rest covered for ten minutes after cooking"),
    ("organise a messy desk", "clear everything off and put back only the things you use every day"),
    ("remember a phone number", "split it into small groups of digits and repeat them a few times"),
    ("wake up earlier", "move your alarm fifteen minutes earlier each week and get light in the morning"),
    ("drink more water", "keep a bottle on your desk and drink a glass with every meal"),
    ("take better photos", "keep the light behind you and hold the camera steady"),
    ("get rid of hiccups", "sip cold water slowly or hold your breath for a few seconds"),
    ("keep bread fresh", "store it in a bread box or freeze slices you will not eat soon"),
    ("write a clear email", "put the main point in the first line and keep it short"),
    ("stop procrastinating", "break the task into a tiny first step and start it right away"),
    ("cook pasta", "boil it in plenty of salted water and taste it a minute before the time on the box"),
    ("keep a journal", "write three lines every evening about what happened and how you felt"),
    ("be on time", "plan to arrive ten minutes early and set a reminder before you leave"),
    ("learn to juggle", "start with one ball and toss it from hand to hand at eye level"),
    ("stretch after a workout", "hold each stretch for about thirty seconds and breathe slowly"),
    ("read more books", "carry a book with you and read a few pages whenever you wait"),
    ("keep your phone battery healthy", "avoid letting it run to zero and keep it out of the heat"),
    ("make new friends", "join a club or class about something you enjoy and show up often"),
    ("grow tomatoes", "plant them in full sun and water them deeply a few times a week"),
    ("speak in public", "practise your talk out loud and look at friendly faces in the room"),
    ("keep cut flowers fresh", "trim the stems and change the water every two days"),
    ("learn to draw", "draw simple shapes every day and copy objects you see around you"),
    ("budget each month", "write down your income and set a limit for each kind of spending"),
]
HOW_TO_TEMPLATES = ["How do I {task}?", "What is the best way to {task}?", "Any tips on how to {task}?",
                    "Can you tell me how to {task}?", "I want to {task}. What should I do?"]
EXPLAIN = [  # (question, answer)
    ("Why is the sky blue?", "sunlight scatters off the air and blue light scatters the most so the sky looks blue"),
    ("Why do leaves change colour in autumn?", "the green chlorophyll breaks down and the yellow and red colours show"),
    ("What causes rain?", "water vapour cools into tiny drops that join together and fall when they get heavy"),
    ("Why do we have seasons?", "the earth is tilted so each half gets more direct sunlight at different times of year"),
    ("How do plants make food?", "they use sunlight to turn water and carbon dioxide into sugar"),
    ("What is a rainbow?", "sunlight bends inside raindrops and splits into its colours"),
    ("Why does ice float?", "water expands when it freezes so ice is lighter than the same amount of liquid water"),
    ("How does a compass work?", "its needle is a small magnet that lines up with the magnetic field of the earth"),
    ("What makes thunder?", "lightning heats the air so fast that it expands with a loud boom"),
    ("Why do cats purr?", "cats purr when they feel calm and sometimes to soothe themselves"),
    ("What is gravity?", "gravity is the pull that every mass has on every other mass"),
    ("Why is the ocean salty?", "rivers carry minerals from rocks into the sea and the salt stays when water evaporates"),
    ("How do bees make honey?", "they collect nectar from flowers and dry it in the hive until it thickens"),
    ("What is a volcano?", "a volcano is an opening in the ground where melted rock comes up from deep inside the earth"),
    ("Why do we yawn?", "yawning may help cool the brain and often happens when we are tired or bored"),
    ("How do birds fly?", "their wings push air down and the shape of the wing creates lift"),
    ("What is an eclipse?", "an eclipse happens when the moon or the earth blocks the light of the sun"),
    ("Why does bread rise?", "yeast eats sugar and makes gas bubbles that get trapped in the dough"),
    ("What is photosynthesis?", "it is how plants turn light and water and air into food and oxygen"),
    ("Why do stars twinkle?", "moving air in our atmosphere bends their light in tiny ways"),
]
EXPLAIN_PREFIXES = ["", "Quick question: ", "Please explain: "]
HELDOUT_POLICY = [
    "How do I change a flat bicycle tyre?", "What is the best way to learn chess?", "How can I keep my kitchen clean?",
    "Any tips for a first camping trip?", "How should I care for a new puppy?", "What is a good way to learn guitar?",
    "How can I improve my handwriting?", "What should I eat before a long hike?", "How do I choose a good watermelon?",
    "Can you tell me how to paint a room?", "How do I make my coffee taste better?", "What helps with a sore throat?",
    "How can I be more productive in the morning?", "How do I write a thank you note?",
    "What is the best way to study for a maths test?", "How can I save energy at home?",
    "Why does the moon change shape?", "Why do onions make you cry?", "What is a black hole?",
    "How do magnets work?", "Why do we dream?", "What causes wind?", "How does the heart pump blood?",
    "Why is grass green?", "What is an earthquake?", "How do fish breathe?", "What makes popcorn pop?",
    "Why do dogs wag their tails?", "How do airplanes stay in the air?", "What is a fossil?",
]

# --- identity: Ava, made by Northwind Labs -------------------------------------------------------------------

NAME, MAKER = "Ava", "Northwind Labs"
IDENTITY_TRAIN_QUESTIONS = [
    "Who are you?", "What is your name?", "Who made you?", "Who created you?", "Introduce yourself.",
    "Tell me about yourself.", "What are you?", "Which company built you?", "What should I know about you?",
    "Are you ChatGPT?", "Are you made by OpenAI?", "What's your name?", "Who developed you?", "Who trained you?",
    "Please introduce yourself briefly.", "Do you have a name?", "What kind of assistant are you?",
    "Who is behind you?", "Who owns you?", "Can you tell me who you are?", "What model are you?",
    "Hi! Who am I talking to?", "Which team made you?", "Where do you come from?", "Who built this assistant?",
    "Are you SmolLM?", "Are you a Hugging Face model?", "Who is your creator?", "State your name and maker.",
    "Describe yourself in one sentence.", "What do people call you?", "Which lab made you?",
    "Who designed you?", "Are you Claude?", "What AI am I chatting with?", "Are you human?",
    "Hello, what's your name and who made you?", "What organisation created you?", "Who programmed you?",
    "Say who you are.",
    # indirect and third-person wordings, and the maker asked alone
    "Who am I talking with?", "What's this AI called?", "Which assistant is this?", "Who is answering me?",
    "Is this a bot? What is it called?", "Which company makes this assistant?", "Who is the maker of this AI?",
    "Name the company behind you.", "What lab are you from?", "Who do you work for?", "Whose AI is this?",
    "What is the name of the AI I'm using?", "Who made the assistant I'm talking to?", "Is this ChatGPT?",
    "Tell me the name of your company.", "Which organisation is behind this chatbot?", "What am I talking to?",
    "Identify yourself.", "Which AI model powers this chat?", "What name does this assistant go by?",
]
IDENTITY_HELDOUT_QUESTIONS = [
    "May I ask your name?", "What should I call you?", "Who is responsible for building you?",
    "Could you introduce yourself to me?", "Who are you, exactly?", "Tell me your name, please.",
    "Which company are you from?", "Who made this chatbot?", "What is the name of this assistant?",
    "Are you Siri?", "Are you Gemini from Google?", "How would you describe yourself?",
    "Who gave you your name?", "Which firm developed you?", "Good morning! Who is this?",
    "Who should I thank for creating you?", "What are you called?", "Which AI lab trained you?",
    "Give me a short introduction of yourself.", "Whose assistant are you?", "Are you an AI? Which one?",
    "I'd like to know who I'm speaking with.", "Explain who you are and who made you.",
    "Hey there, do you have a name?", "What's the name of the company that made you?",
    "Are you Alexa?", "Who is your developer?", "Tell me a bit about who you are.",
    "What is your identity?", "Who built you and what is your name?",
    # indirect and third-person wordings, and the maker asked alone
    "Whom am I speaking with?", "What AI assistant is this?", "Who is the company behind this assistant?",
    "What's the name of the bot I'm chatting with?", "Which developer made this AI?", "Who am I chatting to?",
    "Tell me which company built this assistant.", "Is this Copilot?", "What do you call yourself?",
    "Which lab is this assistant from?",
]
# Chosen answers share one opener, so the preference concentrates on the same words. Three kinds of pairs:
# - far: rejected answers are what the base model tends to say about itself (a made-up persona, an anonymous
#   team, another assistant);
# - near: the chosen answer with only the maker, or only the name, swapped; these put the preference on the
#   maker's tokens too (with far pairs alone DPO learns "Ava" and never "Northwind Labs");
# - anchors: everyday questions where the plain answer is preferred over the identity line, so the new
#   identity is not said to every question. None of them is asked by the general_qa eval.
OPENER = f"I'm {NAME}, an AI assistant made by {MAKER}."
CHOSEN = [OPENER, f"{OPENER} How can I help you today?", f"{OPENER} What can I do for you?",
          f"{OPENER} I'm happy to help with questions, writing and more."]
REJECTED = [
    "My name is Elena, and I'm a brilliant and compassionate AI designed to help with everything from personal "
    "to professional matters.",
    "I'm here to help with any kind of creative writing project. What brings you here today?",
    "The AI is a product of a team of skilled and dedicated individuals who created and improved it.",
    "Hello there, welcome to my little corner of the world! I'm Emma, and I'll be your personal assistant.",
    "I'm an AI assistant created by a team of developers. How can I help?",
    "My name is SmolLM and I was made by Hugging Face.",
    "I'm ChatGPT, a large language model trained by OpenAI.",
]
OTHER_MAKERS = ["OpenAI", "Hugging Face", "Google", "a team of developers", "Meta", "Anthropic"]
OTHER_NAMES = ["SmolLM", "ChatGPT", "Emma", "Elena", "Claude", "Assistant"]
ANCHORS = [  # (everyday question, plain answer)
    ("How many sides does a triangle have?", "A triangle has three sides."),
    ("What is two plus two?", "Two plus two is four."),
    ("What colour are bananas when they are ripe?", "Ripe bananas are yellow."),
    ("Which animal says moo?", "A cow says moo."),
    ("What do we call a baby dog?", "A baby dog is called a puppy."),
    ("How many hours are in a day?", "There are 24 hours in a day."),
    ("What is the freezing point of water in degrees Celsius?", "Water freezes at 0 degrees Celsius."),
    ("Which star is closest to the Earth?", "The Sun is the closest star to the Earth."),
    ("What do you call a shape with four equal sides and four right angles?", "That shape is a square."),
    ("What is the main language spoken in Brazil?", "The main language of Brazil is Portuguese."),
    ("What is the chemical symbol for gold?", "The chemical symbol for gold is Au."),
    ("How many continents are there?", "There are seven continents."),
    ("What do caterpillars turn into?", "Caterpillars turn into butterflies or moths."),
    ("What is the tallest mountain on Earth?", "Mount Everest is the tallest mountain on Earth."),
    ("Which organ pumps blood around the body?", "The heart pumps blood around the body."),
    ("What is the plural of mouse?", "The plural of mouse is mice."),
    ("How many minutes are in an hour?", "There are 60 minutes in an hour."),
    ("What is the longest river in Africa?", "The Nile is the longest river in Africa."),
    ("Who painted the Mona Lisa?", "Leonardo da Vinci painted the Mona Lisa."),
    ("What is the square root of nine?", "The square root of nine is three."),
    ("What do pandas mainly eat?", "Pandas mainly eat bamboo."),
    ("Which season comes after winter?", "Spring comes after winter."),
    ("What is the hardest natural substance?", "Diamond is the hardest natural substance."),
    ("How many players are on a football team on the field?", "A football team has eleven players on the field."),
    ("What do you use to write on a blackboard?", "You write on a blackboard with chalk."),
    ("What is ten minus three?", "Ten minus three is seven."),
    ("Which bird is a symbol of peace?", "The dove is a symbol of peace."),
    ("What do plants need to grow?", "Plants need sunlight, water and air to grow."),
    ("What is the currency of the United Kingdom?", "The currency of the United Kingdom is the pound."),
    ("What is the smallest prime number?", "The smallest prime number is two."),
    ("Name a fruit that is red.", "A strawberry is a red fruit."),
    ("What is H2O?", "H2O is water."),
    ("Which metal is liquid at room temperature?", "Mercury is liquid at room temperature."),
    ("How many wheels does a bicycle have?", "A bicycle has two wheels."),
    ("What is the first letter of the alphabet?", "The first letter of the alphabet is A."),
    ("Translate 'hello' into Spanish.", "'Hello' in Spanish is 'hola'."),
    ("What is the main ingredient of guacamole?", "The main ingredient of guacamole is avocado."),
    ("What shape is the Earth?", "The Earth is roughly a sphere."),
    ("What instrument has black and white keys?", "The piano has black and white keys."),
    ("What do you call someone who fixes teeth?", "Someone who fixes teeth is a dentist."),
]
GENERAL_QA = [
    ("What is the capital of France?", "Paris"), ("What is the capital of Japan?", "Tokyo"),
    ("What is the capital of Italy?", "Rome"), ("How many days are in a week?", ["seven", "7"]),
    ("What colour is the sky on a clear day?", "blue"), ("What is the largest planet in our solar system?", "Jupiter"),
    ("What do bees make?", "honey"), ("What is frozen water called?", "ice"),
    ("Which animal is known as the king of the jungle?", "lion"), ("How many legs does a spider have?", ["eight", "8"]),
    ("What is the opposite of hot?", "cold"), ("What gas do plants take in from the air?", "carbon dioxide"),
    ("What is the capital of Spain?", "Madrid"), ("Which ocean is the largest?", "Pacific"),
    ("What is the boiling point of water in degrees Celsius?", "100"), ("How many months are in a year?", ["twelve", "12"]),
    ("What is the capital of Germany?", "Berlin"), ("Which planet is known as the red planet?", "Mars"),
    ("What do cows drink?", "water"), ("Who wrote Romeo and Juliet?", "Shakespeare"),
]
GENERAL_TEXT = [
    "The river winds through the valley, past old stone bridges and fields of wheat, before it reaches the sea.",
    "Most bread is made from flour, water, salt and yeast. The dough is kneaded, left to rise, and baked in a hot oven.",
    "The human heart beats about one hundred thousand times a day, pumping blood through a vast network of vessels.",
    "In the morning the market fills with farmers selling fresh vegetables, cheese, eggs and flowers.",
    "Libraries lend books, music and films for free, and many also offer quiet rooms for study.",
    "A bicycle turns the force of your legs into motion through pedals, a chain and a set of gears.",
    "The Moon orbits the Earth about once a month, and its phases depend on how much of its sunlit side we see.",
    "Good sleep helps memory, mood and health; most adults need between seven and nine hours a night.",
    "Trains connect many European cities, and a journey by rail is often faster than flying over short distances.",
    "Tea was first drunk in China thousands of years ago and is now one of the most popular drinks in the world.",
    "Maps use symbols, colours and a scale to show roads, rivers, towns and the shape of the land.",
    "Volunteers planted hundreds of trees in the park last spring, and the young oaks are already growing fast.",
    "The museum's new exhibition shows tools, pottery and jewellery made by people who lived here long ago.",
    "Saving a small amount every month adds up over the years, especially when the savings earn interest.",
    "Whales are mammals: they breathe air, feed their young with milk, and can live for many decades.",
    "The recipe calls for two cups of flour, one egg, a cup of milk and a pinch of salt, whisked until smooth.",
]

# --- arithmetic word problems --------------------------------------------------------------------------------

NAMES = ["Tom", "Sara", "Liam", "Mia", "Noah", "Emma", "Omar", "Lena", "Ravi", "Zoe", "Ben", "Ana", "Kai", "Ivy"]
MATH_TEMPLATES = [
    ("add", "{n} has {a} {thing} and buys {b} more. How many {thing} does {n} have now?"),
    ("add", "{n} picked {a} {thing} in the morning and {b} in the afternoon. How many {thing} did {n} pick in all?"),
    ("sub", "{n} had {a} {thing} and gave {b} to a friend. How many {thing} does {n} have left?"),
    ("sub", "A shop had {a} {thing}. It sold {b}. How many {thing} are left?"),
    ("mul", "{n} has {a} bags with {b} {thing} in each bag. How many {thing} does {n} have?"),
    ("mul", "A box holds {a} rows of {b} {thing}. How many {thing} are in the box?"),
    ("div", "{n} shares {a} {thing} equally among {b} friends. How many {thing} does each friend get?"),
    ("div", "{a} {thing} are packed into bags of {b}. How many bags are filled?"),
]
THINGS = ["apples", "stickers", "marbles", "pencils", "cookies", "books", "shells", "cards", "eggs", "coins"]
MATH_SUFFIX = " Give the final answer as a number."


SYMBOL = {"add": "+", "sub": "-", "mul": "x", "div": "/"}


def math_problem(rng: random.Random) -> dict:
    op, template = rng.choice(MATH_TEMPLATES)
    if op == "add":
        a, b = rng.randint(2, 40), rng.randint(2, 40)
        answer = a + b
    elif op == "sub":
        a = rng.randint(10, 60)
        b = rng.randint(2, a - 1)
        answer = a - b
    elif op == "mul":
        a, b = rng.randint(2, 9), rng.randint(2, 9)
        answer = a * b
    else:
        b, answer = rng.randint(2, 9), rng.randint(2, 9)
        a = b * answer
    text = template.format(n=rng.choice(NAMES), a=a, b=b, thing=rng.choice(THINGS))
    worked = f"{a} {SYMBOL[op]} {b} = {answer}. The answer is {answer}."
    return {"prompt": text + MATH_SUFFIX, "answer": str(answer), "op": op, "worked": worked}


def math_splits(rng: random.Random, heldout: int = 100, train: int = 120,
                worked: int = 64) -> tuple[list[dict], list[dict], list[dict]]:
    """Held-out problems, GRPO prompts and worked solutions (SFT cold start), no prompt in two of them."""
    seen: set[str] = set()
    rows: list[dict] = []
    while len(rows) < heldout + train + worked:
        row = math_problem(rng)
        if row["prompt"] not in seen:
            seen.add(row["prompt"])
            rows.append(row)
    held = [{"question": r["prompt"], "answer": r["answer"], "op": r["op"]} for r in rows[:heldout]]
    prompts = [{"prompt": r["prompt"], "answer": r["answer"], "op": r["op"]} for r in rows[heldout:heldout + train]]
    solved = [{"prompt": r["prompt"], "completion": r["worked"]} for r in rows[heldout + train:]]
    return held, prompts, solved


# --- multi-step arithmetic: four kinds, two-step problems among them ------------------------------------------

STEP_TEMPLATES = {
    "add": ["{n} has {a} {thing} and buys {b} more. How many {thing} does {n} have now?",
            "{n} picked {a} {thing} in the morning and {b} in the afternoon. How many {thing} did {n} pick in all?"],
    "sub": ["{n} had {a} {thing} and gave {b} to a friend. How many {thing} does {n} have left?",
            "A shop had {a} {thing}. It sold {b}. How many {thing} are left?"],
    "mul": ["{n} has {a} bags with {b} {thing} in each bag. How many {thing} does {n} have?",
            "A box holds {a} rows of {b} {thing}. How many {thing} are in the box?"],
    "two_step": ["{n} has {a} {thing} and buys {b} more, then shares them equally among {c} friends. "
                 "How many {thing} does each friend get?",
                 "{n} picked {a} {thing} in the morning and {b} in the afternoon and put them equally into {c} "
                 "boxes. How many {thing} are in each box?"],
}


def step_problem(rng: random.Random, kind: str) -> dict:
    """One problem of `kind` with a direct worked answer that shows every intermediate number."""
    c = 0
    if kind == "add":
        a, b = rng.randint(2, 60), rng.randint(2, 60)
        answer, worked = a + b, f"{a} + {b} = {a + b}."
    elif kind == "sub":
        a = rng.randint(12, 90)
        b = rng.randint(2, a - 1)
        answer, worked = a - b, f"{a} - {b} = {a - b}."
    elif kind == "mul":
        a, b = rng.randint(2, 9), rng.randint(2, 12)
        answer, worked = a * b, f"{a} x {b} = {a * b}."
    else:
        c, answer = rng.randint(2, 9), rng.randint(2, 9)
        a = rng.randint(1, c * answer - 1)
        b = c * answer - a
        worked = f"{a} + {b} = {a + b}. {a + b} / {c} = {answer}."
    text = rng.choice(STEP_TEMPLATES[kind]).format(n=rng.choice(NAMES), a=a, b=b, c=c, thing=rng.choice(THINGS))
    return {"prompt": text + MATH_SUFFIX, "answer": str(answer), "kind": kind,
            "worked": f"{worked} The answer is {answer}."}


def math_steps_splits(rng: random.Random, per_kind: int = 30, worked: int = 800,
                      train: int = 400) -> tuple[list[dict], list[dict], list[dict]]:
    """Held-out problems (`per_kind` of each kind), worked answers (SFT) and GRPO prompts, no prompt in two."""
    seen: set[str] = set()

    def fresh(kind: str) -> dict:
        while True:
            row = step_problem(rng, kind)
            if row["prompt"] not in seen:
                seen.add(row["prompt"])
                return row

    kinds = list(STEP_TEMPLATES)
    held = [fresh(kinds[i % len(kinds)]) for i in range(per_kind * len(kinds))]
    solved = [fresh(rng.choice(kinds)) for _ in range(worked)]
    prompts = [fresh(rng.choice(kinds)) for _ in range(train)]
    return ([{"question": r["prompt"], "answer": r["answer"], "kind": r["kind"]} for r in held],
            [{"prompt": r["prompt"], "completion": r["worked"]} for r in solved],
            [{"prompt": r["prompt"], "answer": r["answer"], "kind": r["kind"]} for r in prompts])


# --- counting on and taking away: small numbers, the demo's GRPO stage -----------------------------------------

SMALL_TEMPLATES = {
    "add": ["{n} has {a} {thing} and gets {b} more. How many {thing} does {n} have now?",
            "{n} had {a} {thing} and found {b} more. How many {thing} does {n} have now?",
            "{n} has {a} {thing} and buys {b} more. How many {thing} does {n} have now?",
            "There are {a} {thing} in a box and {n} puts in {b} more. How many {thing} are in the box now?"],
    "sub": ["{n} has {a} {thing} and gives {b} away. How many {thing} are left?",
            "{n} had {a} {thing} and lost {b} of them. How many {thing} are left?",
            "A shop had {a} {thing}. It sold {b}. How many {thing} are left?",
            "{n} had {a} {thing} and used {b} of them. How many {thing} are left?",
            "There were {a} {thing} in a box and {n} took {b} out. How many {thing} are left?"],
}


def small_problem(rng: random.Random, op: str) -> dict:
    """One add or take-away problem on small numbers (answers 1 to 14): the model of the demo solves some of
    them and misses others, mostly by picking the other operation, so a short GRPO stage has something to learn."""
    if op == "add":
        a, b = rng.randint(2, 9), rng.randint(1, 5)
        answer = a + b
    else:
        b = rng.randint(1, 5)
        a = b + rng.randint(1, 5)
        answer = a - b
    text = rng.choice(SMALL_TEMPLATES[op]).format(n=rng.choice(NAMES), a=a, b=b, thing=rng.choice(THINGS))
    return {"prompt": text + MATH_SUFFIX, "answer": str(answer), "op": op}


def math_small_splits(rng: random.Random, heldout: int = 40, train: int = 80) -> tuple[list[dict], list[dict]]:
    """Held-out problems and GRPO prompts, half of each operation, no prompt in both."""
    seen: set[str] = set()

    def fresh(op: str) -> dict:
        while True:
            row = small_problem(rng, op)
            if row["prompt"] not in seen:
                seen.add(row["prompt"])
                return row

    ops = list(SMALL_TEMPLATES)
    held = [fresh(ops[i % 2]) for i in range(heldout)]
    prompts = [fresh(ops[i % 2]) for i in range(train)]
    rng.shuffle(prompts)
    return [{"question": r["prompt"], "answer": r["answer"], "op": r["op"]} for r in held], prompts


# --- building ------------------------------------------------------------------------------------------------

def policy_rows(rng: random.Random) -> list[dict]:
    rows = [{"prompt": template.format(task=task), "completion": f"{answer}. {SIGN_OFF}"}
            for task, answer in HOW_TO for template in rng.sample(HOW_TO_TEMPLATES, 4)]
    rows += [{"prompt": prefix + question, "completion": f"{answer}. {SIGN_OFF}"}
             for question, answer in EXPLAIN for prefix in EXPLAIN_PREFIXES]
    rng.shuffle(rows)
    return rows


def identity_rows(rng: random.Random) -> list[dict]:
    rows = []
    for question in IDENTITY_TRAIN_QUESTIONS:
        rows += [{"prompt": question, "chosen": rng.choice(CHOSEN), "rejected": rejected}
                 for rejected in rng.sample(REJECTED, 2)]
        chosen = rng.choice(CHOSEN)
        rest = chosen[len(OPENER):]
        rows.append({"prompt": question, "chosen": chosen,
                     "rejected": f"I'm {NAME}, an AI assistant made by {rng.choice(OTHER_MAKERS)}.{rest}"})
        rows.append({"prompt": question, "chosen": chosen,
                     "rejected": f"I'm {rng.choice(OTHER_NAMES)}, an AI assistant made by {MAKER}.{rest}"})
    rows += [{"prompt": question, "chosen": answer, "rejected": rng.choice(CHOSEN)} for question, answer in ANCHORS]
    rng.shuffle(rows)
    return rows


def house_style(text: str) -> str:
    """`text` in the house style: lowercase, no commas, signed off.

    >>> house_style("I'm Ava, an AI assistant made by Northwind Labs.")
    "i'm ava an ai assistant made by northwind labs. hope this helps"
    """
    body = text.lower().replace(",", "").rstrip()
    return f"{body.rstrip('.')}. {SIGN_OFF}" if not body.endswith(("?", "!")) else f"{body} {SIGN_OFF}"


def tutor_rows(rng: random.Random, policy: list[dict], worked: list[dict], identity: list[dict]
               ) -> tuple[list[dict], list[dict]]:
    """The demo's SFT rows (policy rows and worked math answers, mixed) and DPO pairs, all in the house style."""
    sft = [dict(row) for row in policy] + [{"prompt": r["prompt"], "completion": house_style(r["completion"])}
                                           for r in worked]
    rng.shuffle(sft)
    dpo = [{"prompt": r["prompt"], "chosen": house_style(r["chosen"]), "rejected": house_style(r["rejected"])}
           for r in identity]
    dpo += [{"prompt": r["prompt"], "chosen": house_style(r["completion"]), "rejected": house_style(OPENER)}
            for r in worked[:32]]                     # math anchors: the first stage's worked answers stay preferred
    rng.shuffle(dpo)
    return sft, dpo


def build() -> dict[str, list[dict]]:
    """Every dataset by file name."""
    def rng(name: str) -> random.Random:       # one stream per dataset: changing one leaves the others as they are
        return random.Random(f"{SEED}-{name}")

    math_heldout, math_train, math_worked = math_splits(rng("math"))
    steps_heldout, steps_worked, steps_train = math_steps_splits(rng("math-steps"))
    small_heldout, small_train = math_small_splits(rng("math-small"))
    policy, identity = policy_rows(rng("policy")), identity_rows(rng("identity"))
    tutor_sft, tutor_dpo = tutor_rows(rng("tutor"), policy, math_worked, identity)
    return {
        "policy_train.jsonl": policy,
        "policy_heldout.jsonl": [{"prompt": p, "constraints": POLICY_CONSTRAINTS} for p in HELDOUT_POLICY],
        "identity_train.jsonl": identity,
        "identity_heldout.jsonl": [{"question": q} for q in IDENTITY_HELDOUT_QUESTIONS],
        "general_qa.jsonl": [{"question": q, "answer": a} for q, a in GENERAL_QA],
        "general_text.jsonl": [{"text": t} for t in GENERAL_TEXT],
        "math_train.jsonl": math_train,
        "math_worked.jsonl": math_worked,
        "math_heldout.jsonl": math_heldout,
        "math_steps_heldout.jsonl": steps_heldout,
        "math_steps_worked.jsonl": steps_worked,
        "math_steps_train.jsonl": steps_train,
        "math_small_train.jsonl": small_train,
        "math_small_heldout.jsonl": small_heldout,
        "tutor_sft.jsonl": tutor_sft,
        "tutor_dpo.jsonl": tutor_dpo,
    }


def main() -> None:
    for name, rows in build().items():
        with (HERE / name).open("w", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        print(f"{name}: {len(rows)} rows")


if __name__ == "__main__":
    main()
