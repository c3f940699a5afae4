"""Triage Desk: email and chat intake bot with automatic triage for support desks."""

__version__ = "0.1.0"
