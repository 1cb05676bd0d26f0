"""Local stack: emulators, the functions under functions-framework, tokens for local users."""
