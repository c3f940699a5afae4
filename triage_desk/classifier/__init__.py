"""Triage classifier: proposes a request category and a feedback type, with a confidence."""
