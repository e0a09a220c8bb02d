"""Realistic synthetic personal notes for the latency benchmark (no network, no data files).

`notes(n, seed)` returns n distinct sentences of the kind people keep in a memory
tool: birthdays, where things are kept, how-tos, trips, appointments, food,
work, books, sport, money, pets, preferences. Vocabularies are large enough
that texts differ in their content words, so BM25 and vector queries are
meaningful (a query about "Lisbon" or "the spare key" has a few right answers,
not thousands). `queries(n, seed)` returns questions and keyword queries
phrased the way people ask, many of them paraphrases rather than copies.

The same seed always yields the same texts, so stores are reproducible and a
smaller store's notes are a prefix of a larger one's.
"""

from __future__ import annotations

import random

FIRST = """Ana Ben Carla David Elena Farid Grace Hugo Ines Jonas Kira Liam Maya Noah Olga Pablo Quinn
Rosa Sam Tara Umar Vera Will Xena Yusuf Zoe Aiko Bruno Chloe Diego Emma Felix Gina Hamid Ivy Jack
Leila Marco Nadia Oscar Priya Rafael Sofia Tomas Uma Viktor Wendy Yara Amir Bianca Chen Dalia Erik
Fatima Gustav Hana Igor Julia Kenji Lucia Mateo Nina Omar Paula Ruben Sara Theo Ursula Valentin
Wanda Ximena Yuki Zain Alba Boris Celine Dmitri Eva Frank Greta Hector Irene Jorge Katya Lars Mila
Nils Orla Pedro Rhea Stefan Tessa Ugo Vivian Walter Alma Caleb Daria Enzo Flora Gabriel Helga Ilan
Joana Karim Lena Milo Nora Otto Petra Raul Selma Tobias""".split()
SURNAMES = """Silva Novak Martin Costa Weber Rossi Tanaka Khan Moreau Jansen Kowalski Lindqvist Okafor
Haddad Petrov Garcia Murphy Schmidt Dubois Nakamura Ferreira Horvath Andersen Yilmaz Nguyen Alvarez
Fischer Romano Larsen Mendes Varga Brennan Sato Ivanova Bauer Quispe Duarte Keller Lopes Vogel Marino
Hansen Park Ortiz Fontaine Zhang Berg Castillo Wolff Santos Meyer Rinaldi""".split()
RELATION = """sister brother cousin neighbour colleague manager friend aunt uncle niece nephew
flatmate landlord dentist mentor teammate godmother grandfather grandmother son daughter""".split()
CITY = """Lisbon Porto Madrid Seville Barcelona Valencia Paris Lyon Marseille Berlin Hamburg Munich
Vienna Prague Budapest Warsaw Krakow Copenhagen Stockholm Oslo Helsinki Amsterdam Rotterdam Brussels
Ghent Dublin Edinburgh London Bristol Manchester Rome Milan Naples Florence Turin Athens Istanbul
Zagreb Ljubljana Tallinn Riga Vilnius Reykjavik Geneva Zurich Basel Lyon Bordeaux Nantes Toulouse
Marrakesh Cairo Nairobi Cape\u00a0Town Tokyo Kyoto Osaka Seoul Taipei Hanoi Bangkok Singapore Sydney
Melbourne Auckland Toronto Montreal Vancouver Boston Chicago Denver Seattle Austin Mexico\u00a0City
Lima Bogota Santiago Buenos\u00a0Aires Montevideo""".replace("\u00a0", "_").split()
CITY = sorted({c.replace("_", " ") for c in CITY})
COUNTRY = """Portugal Spain France Germany Austria Italy Greece Norway Sweden Finland Denmark Iceland
Japan Korea Vietnam Thailand Morocco Kenya Peru Chile Argentina Mexico Canada Ireland Scotland
Croatia Slovenia Estonia Hungary Poland""".split()
ITEM = """passport spare\u00a0key car\u00a0keys phone\u00a0charger laptop\u00a0charger warranty\u00a0card
birth\u00a0certificate tax\u00a0documents winter\u00a0coats camping\u00a0stove tent bike\u00a0pump
drill extension\u00a0cord first-aid\u00a0kit spare\u00a0glasses headphones old\u00a0photos
vaccination\u00a0records house\u00a0deeds insurance\u00a0papers christmas\u00a0lights sewing\u00a0kit
tool\u00a0box hiking\u00a0boots snow\u00a0chains router\u00a0password\u00a0card backup\u00a0drive
guitar\u00a0strings paint\u00a0brushes umbrella fishing\u00a0rod yoga\u00a0mat ski\u00a0goggles
spare\u00a0batteries parking\u00a0permit gym\u00a0card library\u00a0card""".replace("\u00a0", "_").split()
ITEM = [i.replace("_", " ") for i in ITEM]
SPOT = """in the top drawer of the desk|in the blue box under the bed|on the shelf above the washing
machine|in the garage, left cabinet|behind the books in the study|in the red folder in the filing
cabinet|under the blue flower pot by the door|in the glovebox of the car|in the attic, labelled box
|in the kitchen drawer next to the oven|in the wardrobe of the guest room|in the basement storage
cage|in the hallway cupboard|in the bedside table|on the hook behind the front door|in the safe in
the office|in the green suitcase|in the shoebox on top of the fridge|at my parents' house|in the
garden shed""".replace("\n", " ").split("|")
SPOT = [s.strip() for s in SPOT if s.strip()]
CUISINE = """Italian Japanese Thai Vietnamese Lebanese Mexican Peruvian Ethiopian Korean Indian Greek
Portuguese Georgian Turkish Sichuan Moroccan Spanish French Nepalese Brazilian""".split()
DISH = """ramen pho tacos paella risotto dumplings sushi curry falafel shakshuka moussaka ceviche
bibimbap pad\u00a0thai lasagne gnocchi tagine pierogi goulash khachapuri arepas laksa biryani
carbonara burrito""".replace("\u00a0", "_").split()
DISH = [d.replace("_", " ") for d in DISH]
RESTAURANT_A = (
    """Golden Little Blue Old Green Silver Hidden Happy Lucky Red Wild Quiet Sunny Copper""".split()
)
RESTAURANT_B = (
    """Lantern Fig Anchor Olive Tiger Lotus Harbour Garden Spoon Kettle Table Door Lemon Cedar""".split()
)
STREET = """Oak Street|Rua Augusta|Mill Lane|Station Road|Canal Street|Market Square|Rose Avenue|
Bridge Street|Harbour Road|Church Lane|King Street|Park Road|River Walk|High Street|Elm Grove""".replace(
    "\n", ""
).split("|")
DRINK = """espresso flat\u00a0white green\u00a0tea oolong rooibos chai matcha hot\u00a0chocolate
sparkling\u00a0water red\u00a0wine riesling pale\u00a0ale stout gin\u00a0and\u00a0tonic
orange\u00a0juice""".replace("\u00a0", "_").split()
DRINK = [d.replace("_", " ") for d in DRINK]
ALLERGEN = """peanuts shellfish gluten lactose penicillin cats pollen bee\u00a0stings eggs sesame
soy kiwi dust\u00a0mites latex""".replace("\u00a0", "_").split()
ALLERGEN = [a.replace("_", " ") for a in ALLERGEN]
JOB = """nurse architect software\u00a0engineer teacher carpenter data\u00a0analyst pharmacist
journalist chef physiotherapist lawyer accountant graphic\u00a0designer electrician pilot
veterinarian translator product\u00a0manager researcher photographer""".replace("\u00a0", "_").split()
JOB = [j.replace("_", " ") for j in JOB]
COMPANY = """Northwind Acme Globex Initech Umbrella\u00a0Labs Hooli Vandelay Stark\u00a0Freight
Wayne\u00a0Health Tyrell Cyberdyne Soylent Oscorp Gringotts Bluth\u00a0Homes Dunder\u00a0Paper
Pied\u00a0Piper Wonka\u00a0Foods""".replace("\u00a0", "_").split()
COMPANY = [c.replace("_", " ") for c in COMPANY]
HOBBY = """bouldering pottery salsa chess sailing birdwatching woodworking choir photography
knitting surfing cycling tennis badminton swimming gardening baking fencing archery kayaking
running hiking yoga painting calligraphy""".split()
PET_KIND = ["dog", "cat", "rabbit", "parrot", "tortoise", "hamster"]
PET_NAME = """Biscuit Luna Pepper Milo Olive Ziggy Mochi Rex Coco Nala Juno Pickles Toffee Bruno Pixel
Waffles Hazel Socks Bean Maple""".split()
MONTH = """January February March April May June July August September October November December""".split()
WEEKDAY = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split()
BOOK_ADJ = """Silent Last Hidden Broken Golden Distant Burning Quiet Lost Secret Northern Glass
Winter Endless Crimson Hollow""".split()
BOOK_NOUN = """Garden River Orchard Lighthouse Empire Harbour Archive Mountain Kingdom Letters
Cartographer Island Station Forest Promise Signal""".split()
GENRE = "thriller memoir novel biography history book essay collection science fiction novel".split(" ")
TASK = [
    ("deploy the blog", ["run make publish from the site folder", "push to the main branch and wait for CI"]),
    (
        "renew the passport",
        ["book an appointment at the consulate online", "bring two photos and the old passport"],
    ),
    (
        "reset the router",
        ["hold the pin button for ten seconds", "log in at 192.168.1.1 with the admin card"],
    ),
    (
        "bleed the radiators",
        ["turn the valve a quarter turn with the radiator key", "keep a towel underneath"],
    ),
    (
        "descale the kettle",
        ["boil half water half vinegar and rinse twice", "use citric acid, one spoon per litre"],
    ),
    (
        "back up the laptop",
        ["plug in the backup drive and run the sync script", "use restic to the NAS every Sunday"],
    ),
    (
        "file the tax return",
        ["log in to the tax portal with the citizen card", "download the receipts from the bank first"],
    ),
    (
        "make sourdough",
        ["feed the starter the night before", "bake at 250 degrees with the lid on for 20 minutes"],
    ),
    ("change the bike tyre", ["use the levers in the saddle bag", "pump to 4 bar and check the valve"]),
    (
        "clean the coffee machine",
        ["run the descaling program once a month", "soak the portafilter in hot water"],
    ),
    (
        "update the server",
        ["ssh in and run apt upgrade, then reboot", "check the disk space before upgrading"],
    ),
    (
        "cancel the gym membership",
        ["send a letter one month in advance", "email the front desk with the member number"],
    ),
    ("book the car service", ["call the garage on Station Road", "use the app and choose a morning slot"]),
    ("water the orchids", ["soak them for ten minutes once a week", "use rain water, never tap water"]),
    (
        "rotate the API keys",
        ["create the new key before deleting the old one", "update the secrets in the vault"],
    ),
    (
        "restore the database",
        ["stop the app, then load the latest dump with psql", "check the checksum of the dump first"],
    ),
    (
        "jump start the car",
        ["connect red to red, black to the engine block", "let it run for twenty minutes afterwards"],
    ),
    ("fix the dripping tap", ["turn off the water under the sink", "replace the washer, size 12 mm"]),
    ("export the photos", ["select all in the album and export originals", "copy them to the backup drive"]),
    ("set up the printer", ["install the driver from the vendor site", "connect it to the guest network"]),
]
TIME = ["9 am", "10:30", "noon", "2 pm", "3:15 pm", "4 pm", "6:30 pm", "8 pm", "7:45 am", "11 am"]


def _date(rng: random.Random) -> str:
    return f"{rng.randint(1, 28)} {rng.choice(MONTH)}"


def _year(rng: random.Random) -> int:
    return rng.randint(2015, 2025)


def _person(rng: random.Random) -> str:
    return rng.choice(FIRST) if rng.random() < 0.7 else f"{rng.choice(FIRST)} {rng.choice(SURNAMES)}"


def _restaurant(rng: random.Random) -> str:
    return f"The {rng.choice(RESTAURANT_A)} {rng.choice(RESTAURANT_B)}"


def _book(rng: random.Random) -> str:
    return f"The {rng.choice(BOOK_ADJ)} {rng.choice(BOOK_NOUN)}"


def _note(rng: random.Random) -> tuple[str, str]:
    """One note and its kind (episodic, semantic or procedural)."""
    p, q = _person(rng), rng.choice(FIRST)
    r = rng.randrange(30)
    if r == 0:
        return (
            f"{p}'s birthday is on {_date(rng)}; {rng.choice(['she', 'he', 'they'])} likes {rng.choice(HOBBY)} and {rng.choice(DRINK)}.",
            "semantic",
        )
    if r == 1:
        return (
            f"The {rng.choice(ITEM)} {rng.choice(['is', 'are kept', 'is stored'])} {rng.choice(SPOT)}.",
            "semantic",
        )
    if r == 2:
        task, steps = rng.choice(TASK)
        return f"To {task}, {rng.choice(steps)}; it takes about {rng.randint(5, 90)} minutes.", "procedural"
    if r == 3:
        return (
            f"Met {p} at {_restaurant(rng)} in {rng.choice(CITY)} on {_date(rng)} to talk about {rng.choice(['the new job', 'the wedding', 'moving house', 'the book club', 'the startup idea', 'their trip to ' + rng.choice(COUNTRY), 'the kitchen renovation', 'the marathon'])}.",
            "episodic",
        )
    if r == 4:
        return (
            f"{p} recommended the {rng.choice(CUISINE)} place {_restaurant(rng)} on {rng.choice(STREET)} in {rng.choice(CITY)}; try the {rng.choice(DISH)}.",
            "semantic",
        )
    if r == 5:
        return (
            f"I prefer {rng.choice(DRINK)} {rng.choice(['in the morning', 'after lunch', 'when working late', 'on weekends', 'with breakfast'])}, {rng.choice(['no sugar', 'with oat milk', 'with a slice of lemon', 'very hot', 'iced in summer'])}.",
            "semantic",
        )
    if r == 6:
        return (
            f"Booked a {rng.choice(['flight', 'train', 'night bus', 'ferry'])} to {rng.choice(CITY)} for {_date(rng)} {_year(rng)}, seat {rng.randint(1, 40)}{rng.choice('ABCDF')}, confirmation {rng.choice('KLMNPQRSTX')}{rng.randint(1000, 9999)}.",
            "episodic",
        )
    if r == 7:
        return (
            f"My {rng.choice(RELATION)} {p} moved to {rng.choice(CITY)} and now works as a {rng.choice(JOB)} at {rng.choice(COMPANY)}.",
            "semantic",
        )
    if r == 8:
        return (
            f"Remember to {rng.choice(['water the plants', 'take out the recycling', 'call mum', 'pay the rent', 'back up the photos', 'check the smoke alarm', 'feed the sourdough starter', 'move the car for street cleaning'])} every {rng.choice(WEEKDAY)} {rng.choice(['morning', 'evening', 'before work', 'after dinner'])}.",
            "procedural",
        )
    if r == 9:
        return (
            f"{rng.choice(['Dentist', 'Doctor', 'Eye test', 'Physio', 'Vet', 'Haircut'])} appointment with {rng.choice(['Dr. ', ''])}{rng.choice(SURNAMES)} on {rng.choice(WEEKDAY)} {_date(rng)} at {rng.choice(TIME)}, {rng.choice(['bring the insurance card', 'fasting from midnight', 'second floor', 'cancel 24 hours ahead or pay', 'parking behind the building'])}.",
            "episodic",
        )
    if r == 10:
        return (
            f"{p} is allergic to {rng.choice(ALLERGEN)}{rng.choice(['', ' and carries an epipen', ', so no ' + rng.choice(DISH) + ' for them', ', mild reaction only'])}.",
            "semantic",
        )
    if r == 11:
        return (
            f"Finished reading {_book(rng)} by {rng.choice(FIRST)} {rng.choice(SURNAMES)}, a {rng.choice(GENRE)}; {rng.randint(1, 5)} out of 5, {rng.choice(['lent it to ' + q, 'slow start but great ending', 'recommended by ' + q, 'would reread', 'too long'])}.",
            "episodic",
        )
    if r == 12:
        return (
            f"Ran {rng.randint(3, 30)} km along the {rng.choice(['river', 'beach', 'canal', 'park', 'old railway line'])} in {rng.choice(CITY)} with {p} in {rng.randint(20, 180)} minutes{rng.choice(['', ', knee felt fine', ', very windy', ', new personal best'])}.",
            "episodic",
        )
    if r == 13:
        return (
            f"Paid {rng.randint(5, 900)} euros to {p} for {rng.choice(['the concert tickets', 'half of the dinner', 'the car repair', 'the holiday flat', 'the birthday present for ' + q, 'the new sofa', 'the plumber'])} on {_date(rng)}.",
            "episodic",
        )
    if r == 14:
        return (
            f"Our {rng.choice(PET_KIND)} {rng.choice(PET_NAME)} {rng.choice(['needs the vaccine booster in ' + rng.choice(MONTH), 'eats two scoops twice a day', 'is afraid of fireworks', 'stays with ' + p + ' when we travel', 'had surgery on ' + _date(rng)])}.",
            "semantic",
        )
    if r == 15:
        return (
            f"{p} {rng.choice(['started', 'quit', 'is getting into', 'teaches'])} {rng.choice(HOBBY)} {rng.choice(['on ' + rng.choice(WEEKDAY) + 's', 'at the community centre', 'with ' + q, 'since ' + str(_year(rng))])}.",
            "semantic",
        )
    if r == 16:
        where = rng.choice(
            [
                p + "'s place",
                "the office",
                "the cabin in " + rng.choice(COUNTRY),
                "the studio",
                "grandma's house",
            ]
        )
        return f"The wifi password at {where} is written {rng.choice(SPOT)}.", "semantic"
    if r == 17:
        return (
            f"{p} and {q} got {rng.choice(['engaged', 'married', 'a puppy', 'a new flat', 'tickets to ' + rng.choice(CITY)])} in {rng.choice(MONTH)} {_year(rng)}.",
            "episodic",
        )
    if r == 18:
        return (
            f"Gift ideas for {p}: {rng.choice(['a ' + rng.choice(HOBBY) + ' class', 'a book like ' + _book(rng), 'good ' + rng.choice(DRINK), 'a cookbook of ' + rng.choice(CUISINE) + ' food', 'concert tickets'])}{rng.choice(['', ', not perfume', ', budget 50 euros'])}.",
            "semantic",
        )
    if r == 19:
        return (
            f"Stayed at {rng.choice(['a small hotel', 'an apartment', 'a hostel', 'a guesthouse', 'a campsite'])} near {rng.choice(['the old town', 'the station', 'the beach', 'the cathedral', 'the harbour'])} in {rng.choice(CITY)} in {rng.choice(MONTH)} {_year(rng)}; {rng.choice(['would go back', 'noisy at night', 'great breakfast', 'host was ' + p, 'too far from the centre'])}.",
            "episodic",
        )
    if r == 20:
        return (
            f"{p} {rng.choice(['does not eat meat', 'is vegan', 'avoids spicy food', 'loves ' + rng.choice(CUISINE) + ' food', 'only drinks ' + rng.choice(DRINK)])}; keep that in mind for {rng.choice(['dinner parties', 'the barbecue', 'the office lunch', 'the wedding menu'])}.",
            "semantic",
        )
    if r == 21:
        return (
            f"The {rng.choice(['car', 'boiler', 'washing machine', 'laptop', 'fridge', 'bike', 'dishwasher'])} {rng.choice(['warranty ends on', 'was serviced on', 'broke down on', 'was bought on'])} {_date(rng)} {_year(rng)} {rng.choice(['at ' + rng.choice(COMPANY), 'for ' + str(rng.randint(80, 2500)) + ' euros', 'by ' + rng.choice(SURNAMES) + ' repairs'])}.",
            "semantic",
        )
    if r == 22:
        return (
            f"{p}'s phone number changed; the new one ends in {rng.randint(1000, 9999)} and {rng.choice(['she', 'he', 'they'])} prefers {rng.choice(['texts over calls', 'calls after 6 pm', 'voice messages', 'email for anything long'])}.",
            "semantic",
        )
    if r == 23:
        return (
            f"Learned that {rng.choice(CITY)} has {rng.choice(['a free museum day on ' + rng.choice(WEEKDAY) + 's', 'the best ' + rng.choice(DISH) + ' near the market', 'bike lanes everywhere', 'a night tram to the airport', 'a ' + rng.choice(HOBBY) + ' club by the river'])}, according to {p}.",
            "semantic",
        )
    if r == 24:
        return (
            f"Team meeting on {rng.choice(WEEKDAY)}: {p} will {rng.choice(['present the roadmap', 'own the migration', 'review the budget', 'interview candidates', 'write the release notes'])} and {q} {rng.choice(['takes notes', 'books the room', 'handles the demo', 'follows up with ' + rng.choice(COMPANY)])}.",
            "episodic",
        )
    if r == 25:
        return (
            f"Planted {rng.choice(['tomatoes', 'basil', 'tulip bulbs', 'strawberries', 'lavender', 'an apple tree', 'chillies', 'sunflowers'])} in the {rng.choice(['back garden', 'balcony pots', 'allotment', 'front bed'])} on {_date(rng)}; {rng.choice(['water every other day', 'needs full sun', 'protect from slugs', 'harvest in ' + rng.choice(MONTH)])}.",
            "episodic",
        )
    if r == 26:
        return (
            f"{p} lent me {rng.choice(['a drill', 'a tent', 'the ladder', 'a board game', 'a camera lens', _book(rng), 'a suitcase'])} on {_date(rng)}; give it back {rng.choice(['before the holidays', 'next ' + rng.choice(WEEKDAY), 'when we meet in ' + rng.choice(CITY), 'soon'])}.",
            "episodic",
        )
    if r == 27:
        return (
            f"My {rng.choice(['blood pressure', 'resting heart rate', 'weight', 'cholesterol'])} was {rng.randint(50, 180)} at the check-up on {_date(rng)} {_year(rng)}; {rng.choice(['doctor said it is fine', 'recheck in six months', 'cut down on salt', 'more exercise'])}.",
            "episodic",
        )
    if r == 28:
        return (
            f"Favourite {rng.choice(['song', 'film', 'band', 'painter', 'podcast', 'board game'])} of {p}: {rng.choice(BOOK_ADJ)} {rng.choice(BOOK_NOUN)}{rng.choice(['', ', saw it together in ' + rng.choice(CITY), ', mentioned it at dinner'])}.",
            "semantic",
        )
    return (
        f"{rng.choice(['Cancelled', 'Renewed', 'Signed up for', 'Downgraded'])} the {rng.choice(['streaming', 'phone', 'gym', 'newspaper', 'cloud storage', 'car insurance', 'home insurance', 'electricity'])} {rng.choice(['contract', 'subscription', 'plan'])} with {rng.choice(COMPANY)} on {_date(rng)}; {rng.choice(['now ' + str(rng.randint(3, 80)) + ' euros a month', 'notice period is one month', 'reference number in the email', 'ask ' + p + ' about the family plan'])}.",
        "episodic",
    )


def notes(n: int, seed: int = 42) -> list[tuple[str, str]]:
    """n distinct (text, kind) notes; deterministic for a seed."""
    rng = random.Random(seed)
    seen: set[str] = set()
    out: list[tuple[str, str]] = []
    while len(out) < n:
        text, kind = _note(rng)
        if text not in seen:
            seen.add(text)
            out.append((text, kind))
    return out


def queries(n: int = 100, seed: int = 7) -> list[str]:
    """Varied queries: questions, paraphrases and a few bare keywords."""
    rng = random.Random(seed)
    makers = [
        lambda: f"when is {rng.choice(FIRST)}'s birthday",
        lambda: f"where did I put the {rng.choice(ITEM)}?",
        lambda: f"how do I {rng.choice(TASK)[0]}",
        lambda: f"good {rng.choice(CUISINE)} restaurant in {rng.choice(CITY)}",
        lambda: f"who is allergic to {rng.choice(ALLERGEN)}",
        lambda: f"what does {rng.choice(FIRST)} do for a living",
        lambda: f"trip to {rng.choice(CITY)}",
        lambda: "which books did I rate highly",
        lambda: f"{rng.choice(HOBBY)} with {rng.choice(FIRST)}",
        lambda: f"how much did I pay {rng.choice(FIRST)}",
        lambda: f"vet visit for the {rng.choice(PET_KIND)}",
        lambda: "what should I cook for a vegetarian friend",
        lambda: "dentist appointment",
        lambda: "who moved abroad recently",
        lambda: f"{rng.choice(DISH)}",
        lambda: "wifi password",
        lambda: f"present ideas for {rng.choice(FIRST)}",
        lambda: f"when does the {rng.choice(['car', 'boiler', 'fridge', 'laptop'])} warranty run out",
        lambda: f"running route along the {rng.choice(['river', 'beach', 'canal'])}",
        lambda: "what coffee do I like in the morning",
        lambda: f"hotel near the {rng.choice(['station', 'beach', 'old town'])} in {rng.choice(CITY)}",
        lambda: f"who borrowed my {rng.choice(['drill', 'tent', 'ladder', 'camera lens'])}",
        lambda: f"subscription with {rng.choice(COMPANY)}",
        lambda: "garden: what did I plant this spring",
        lambda: f"{rng.choice(FIRST)} {rng.choice(SURNAMES)}",
        lambda: "blood pressure check-up results",
        lambda: "weekly chores reminder",
        lambda: f"who got engaged in {rng.choice(MONTH)}",
        lambda: f"flight confirmation number for {rng.choice(CITY)}",
        lambda: "meeting about the roadmap",
    ]
    out: list[str] = []
    seen: set[str] = set()
    while len(out) < n:
        query = rng.choice(makers)()
        if query not in seen:
            seen.add(query)
            out.append(query)
    return out


if __name__ == "__main__":
    for text, kind in notes(20):
        print(f"[{kind}] {text}")
    print()
    for query in queries(10):
        print(query)
