"""The staff console: a web front end over the desk service (FastAPI, server-rendered
Jinja2, htmx for small interactions). ``create_console`` builds it; `triage run` serves it
with uvicorn when ``[console] enabled``. No SQL here: every read and action goes through
``desk_service``."""

from triage_desk.console.app import create_console

__all__ = ["create_console"]
