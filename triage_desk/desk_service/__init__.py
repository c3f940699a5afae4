"""The desk service: ticket queries and staff actions for every front end (``DeskService``).

Typed results (``results``) and typed refusals (``errors``); no front end's wording.
"""

from triage_desk.desk_service.errors import (
    Conflict,
    DeskError,
    InvalidInput,
    NotAllowed,
    NotFound,
)
from triage_desk.desk_service.queries import TicketFilter
from triage_desk.desk_service.service import DeskService

__all__ = [
    "Conflict",
    "DeskError",
    "DeskService",
    "InvalidInput",
    "NotAllowed",
    "NotFound",
    "TicketFilter",
]
