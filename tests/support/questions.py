"""Question items as the model streams them, for tests that script a model."""

from __future__ import annotations

import json


def item(n: int, *, question: str | None = None) -> dict[str, object]:
    return {
        "question": question or f"What is letter number {n}?",
        "type": "multiple-choice",
        "options": [f"A{n}", f"B{n}", f"C{n}", f"D{n}"],
        "correctAnswer": f"A{n}",
        "explanation": f"Because {n}.",
    }


def stream_pieces(items: list[object], *, piece_size: int = 40) -> list[str]:
    """One JSON array, cut into pieces at arbitrary positions as a stream cuts it."""
    text = json.dumps(items)
    return [text[i : i + piece_size] for i in range(0, len(text), piece_size)]


def questions_stream(count: int, *, start: int = 0, piece_size: int = 40) -> list[str]:
    return stream_pieces([item(n) for n in range(start, start + count)], piece_size=piece_size)


def envelope_pieces(
    items: list[object],
    *,
    topic: str = "NATO alphabet",
    count: int | None = None,
    piece_size: int = 40,
) -> list[str]:
    """The answer of one generation call: the plan, then the questions, cut into pieces."""
    answer = {"topic": topic, "count": len(items) if count is None else count, "questions": items}
    text = json.dumps(answer)
    return [text[i : i + piece_size] for i in range(0, len(text), piece_size)]


def answer_stream(
    count: int, *, start: int = 0, planned: int | None = None, piece_size: int = 40
) -> list[str]:
    items: list[object] = [item(n) for n in range(start, start + count)]
    return envelope_pieces(items, count=planned, piece_size=piece_size)
