"""The first 20 chemical elements: symbol, name and atomic number, four questions each."""

from __future__ import annotations

import random

from .base import Deck, Question, build_deck, multiple_choice, others, rng, true_false

# (atomic number, symbol, name); IUPAC spellings.
ELEMENTS: tuple[tuple[int, str, str], ...] = (
    (1, "H", "Hydrogen"),
    (2, "He", "Helium"),
    (3, "Li", "Lithium"),
    (4, "Be", "Beryllium"),
    (5, "B", "Boron"),
    (6, "C", "Carbon"),
    (7, "N", "Nitrogen"),
    (8, "O", "Oxygen"),
    (9, "F", "Fluorine"),
    (10, "Ne", "Neon"),
    (11, "Na", "Sodium"),
    (12, "Mg", "Magnesium"),
    (13, "Al", "Aluminium"),
    (14, "Si", "Silicon"),
    (15, "P", "Phosphorus"),
    (16, "S", "Sulfur"),
    (17, "Cl", "Chlorine"),
    (18, "Ar", "Argon"),
    (19, "K", "Potassium"),
    (20, "Ca", "Calcium"),
)

SYMBOL_NOTES: dict[str, str] = {
    "Na": " The symbol comes from its Latin name, natrium.",
    "K": " The symbol comes from its Latin name, kalium.",
}

# Wrong symbols a learner is likely to believe (none of them is the element's symbol).
TEMPTING_SYMBOLS: dict[str, list[str]] = {
    "Sodium": ["So", "S", "Sd"],
    "Potassium": ["P", "Po", "Pt"],
    "Magnesium": ["Mn", "Ma"],
    "Chlorine": ["C", "Ch", "Cr"],
    "Calcium": ["C", "Cm", "Cl"],
    "Helium": ["H", "Hl", "Hm"],
    "Argon": ["Ag", "Au", "Ao"],
    "Silicon": ["Sl", "S", "Sc"],
    "Phosphorus": ["Ph", "Po", "Pf"],
    "Fluorine": ["Fl", "Fr", "Fe"],
    "Beryllium": ["B", "Br", "Bl"],
    "Boron": ["Bo", "Br", "Be"],
}

KEYWORDS = (
    r"chemical elements?",
    r"periodic table",
    r"\belements\b",
    r"element symbols?",
    r"atomic numbers?",
)


SYMBOLS = [symbol for _, symbol, _ in ELEMENTS]
NAMES = [name for _, _, name in ELEMENTS]


def _questions() -> list[Question]:
    r = rng("elements")
    return [q for element in ELEMENTS for q in _element_questions(r, *element)]


def _element_questions(r: random.Random, number: int, symbol: str, name: str) -> list[Question]:
    """Symbol, name and atomic number as multiple-choice, then one true-false statement."""
    note = SYMBOL_NOTES.get(symbol, "")
    tempting = _tempting(name)
    symbol_distractors = [
        *r.sample(tempting, min(1, len(tempting))),
        *others(r, SYMBOLS, symbol, 3),
    ]
    return [
        multiple_choice(
            r,
            f"What is the chemical symbol for {name}?",
            symbol,
            symbol_distractors,
            f"{name}'s chemical symbol is {symbol}.{note}",
        ),
        multiple_choice(
            r,
            f"Which chemical element has the symbol {symbol}?",
            name,
            others(r, NAMES, name, 3),
            f"{symbol} is the symbol of {name}, atomic number {number}.{note}",
        ),
        multiple_choice(
            r,
            f"What is the atomic number of {name}?",
            str(number),
            [str(n) for n in r.sample(_nearby(number), 3)],
            f"{name} ({symbol}) has atomic number {number}: "
            f"its nucleus holds {number} proton{'s' if number > 1 else ''}.",
        ),
        _statement(r, number, symbol, name),
    ]


def _statement(r: random.Random, number: int, symbol: str, name: str) -> Question:
    """A true or false statement about the element's symbol or atomic number."""
    note = SYMBOL_NOTES.get(symbol, "")
    if r.random() < 0.5:
        if r.random() < 0.5:
            return true_false(
                f"The chemical symbol for {name} is {symbol}.",
                True,
                f"{name} is written {symbol}.{note}",
            )
        return true_false(
            f"{name} has atomic number {number}.",
            True,
            f"{name} is element number {number} of the periodic table.",
        )
    if r.random() < 0.5:
        wrong_symbol = (_tempting(name) or others(r, SYMBOLS, symbol, 1))[0]
        return true_false(
            f"The chemical symbol for {name} is {wrong_symbol}.",
            False,
            f"{name}'s symbol is {symbol}, not {wrong_symbol}.{note}",
        )
    wrong_number = r.choice(_nearby(number))
    return true_false(
        f"{name} has atomic number {wrong_number}.",
        False,
        f"{name} has atomic number {number}; element {wrong_number} is "
        f"{ELEMENTS[wrong_number - 1][2]}.",
    )


def _tempting(name: str) -> list[str]:
    """The tempting wrong symbols for `name` that are no other element's symbol."""
    return [s for s in TEMPTING_SYMBOLS.get(name, []) if s not in SYMBOLS]


def _nearby(number: int) -> list[int]:
    """Atomic numbers within 4 of `number` (and within 1..20), itself left out."""
    return [n for n in range(max(1, number - 4), min(20, number + 4) + 1) if n != number]


DECK: Deck = build_deck(
    "elements",
    "The first 20 chemical elements",
    "Learn the symbols, names and atomic numbers of the first 20 chemical elements "
    "(Hydrogen to Calcium).",
    KEYWORDS,
    _questions(),
)
