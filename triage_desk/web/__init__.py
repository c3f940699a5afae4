"""The HTTP side of ``triage run``: one server for every route (``server.py``)."""
