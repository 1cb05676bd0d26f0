"""World capitals: 57 countries whose capital is uncontested, three questions each."""

from __future__ import annotations

from .base import Deck, Question, build_deck, multiple_choice, others, rng, true_false

# (country, capital, well-known cities of the same country that are not its capital).
# Countries with disputed, split or moving capitals are left out on purpose.
CAPITALS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("France", "Paris", ("Lyon", "Marseille")),
    ("Germany", "Berlin", ("Munich", "Hamburg", "Frankfurt")),
    ("Italy", "Rome", ("Milan", "Naples")),
    ("Spain", "Madrid", ("Barcelona", "Seville")),
    ("Portugal", "Lisbon", ("Porto",)),
    ("the United Kingdom", "London", ("Manchester", "Birmingham")),
    ("Ireland", "Dublin", ("Cork",)),
    ("Belgium", "Brussels", ("Antwerp",)),
    ("Austria", "Vienna", ("Salzburg",)),
    ("Poland", "Warsaw", ("Kraków",)),
    ("the Czech Republic", "Prague", ("Brno",)),
    ("Hungary", "Budapest", ("Debrecen",)),
    ("Greece", "Athens", ("Thessaloniki",)),
    ("Sweden", "Stockholm", ("Gothenburg",)),
    ("Norway", "Oslo", ("Bergen",)),
    ("Denmark", "Copenhagen", ("Aarhus",)),
    ("Finland", "Helsinki", ("Tampere",)),
    ("Iceland", "Reykjavík", ("Akureyri",)),
    ("Russia", "Moscow", ("Saint Petersburg",)),
    ("Ukraine", "Kyiv", ("Kharkiv", "Lviv")),
    ("Romania", "Bucharest", ("Cluj-Napoca",)),
    ("Croatia", "Zagreb", ("Split",)),
    ("Turkey", "Ankara", ("Istanbul", "Izmir")),
    ("Egypt", "Cairo", ("Alexandria",)),
    ("Morocco", "Rabat", ("Casablanca", "Marrakesh")),
    ("Nigeria", "Abuja", ("Lagos",)),
    ("Kenya", "Nairobi", ("Mombasa",)),
    ("Ethiopia", "Addis Ababa", ("Dire Dawa",)),
    ("Ghana", "Accra", ("Kumasi",)),
    ("Canada", "Ottawa", ("Toronto", "Montreal", "Vancouver")),
    ("the United States", "Washington, D.C.", ("New York City", "Los Angeles")),
    ("Mexico", "Mexico City", ("Guadalajara",)),
    ("Cuba", "Havana", ("Santiago de Cuba",)),
    ("Jamaica", "Kingston", ("Montego Bay",)),
    ("Brazil", "Brasília", ("Rio de Janeiro", "São Paulo")),
    ("Argentina", "Buenos Aires", ("Córdoba",)),
    ("Chile", "Santiago", ("Concepción",)),
    ("Peru", "Lima", ("Cusco",)),
    ("Colombia", "Bogotá", ("Medellín",)),
    ("Venezuela", "Caracas", ("Maracaibo",)),
    ("Japan", "Tokyo", ("Osaka", "Kyoto")),
    ("China", "Beijing", ("Shanghai",)),
    ("South Korea", "Seoul", ("Busan",)),
    ("Mongolia", "Ulaanbaatar", ("Erdenet",)),
    ("India", "New Delhi", ("Mumbai", "Kolkata")),
    ("Pakistan", "Islamabad", ("Karachi", "Lahore")),
    ("Bangladesh", "Dhaka", ("Chittagong",)),
    ("Nepal", "Kathmandu", ("Pokhara",)),
    ("Afghanistan", "Kabul", ("Kandahar",)),
    ("Thailand", "Bangkok", ("Chiang Mai",)),
    ("Vietnam", "Hanoi", ("Ho Chi Minh City",)),
    ("the Philippines", "Manila", ("Cebu City",)),
    ("Australia", "Canberra", ("Sydney", "Melbourne")),
    ("New Zealand", "Wellington", ("Auckland",)),
    ("Saudi Arabia", "Riyadh", ("Jeddah",)),
    ("Iran", "Tehran", ("Isfahan",)),
    ("Iraq", "Baghdad", ("Basra",)),
)

KEYWORDS = (
    r"\bcapitals\b",
    r"\bcapital cit(?:y|ies)\b",
    r"\bcapital of\b",
)


def _display(country: str) -> str:
    """'the United States' at the start of a sentence or as an option."""
    return country[0].upper() + country[1:]


def _questions() -> list[Question]:
    r = rng("capitals")
    capitals = [capital for _, capital, _ in CAPITALS]
    countries = [_display(country) for country, _, _ in CAPITALS]
    questions: list[Question] = []
    for country, capital, decoys in CAPITALS:
        local = list(decoys[:2])
        questions.append(
            multiple_choice(
                r,
                f"What is the capital of {country}?",
                capital,
                [*local, *others(r, capitals, capital, 3)],
                f"{capital} is the capital of {country}."
                + (f" {decoys[0]} is a major city there, but not the capital." if decoys else ""),
            )
        )
        questions.append(
            multiple_choice(
                r,
                f"{capital} is the capital of which country?",
                _display(country),
                others(r, countries, _display(country), 3),
                f"{capital} is the capital of {country}.",
            )
        )
        if decoys and r.random() < 0.5:
            decoy = r.choice(decoys)
            questions.append(
                true_false(
                    f"{decoy} is the capital of {country}.",
                    False,
                    f"{decoy} is a major city in {country}, but its capital is {capital}.",
                )
            )
        else:
            questions.append(
                true_false(
                    f"{capital} is the capital of {country}.",
                    True,
                    f"Yes: {capital} is the capital of {country}.",
                )
            )
    return questions


DECK: Deck = build_deck(
    "capitals",
    "World capitals",
    f"Learn the capital cities of {len(CAPITALS)} countries around the world.",
    KEYWORDS,
    _questions(),
)
