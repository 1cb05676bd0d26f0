"""Background quiz-question generation service."""
