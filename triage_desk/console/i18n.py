"""The console's own words in Latvian and English (each user picks one; stored with them)."""

from __future__ import annotations

TEXTS: dict[str, tuple[str, str]] = {  # key: (lv, en)
    "title": ("Triage Desk: darbinieku konsole", "Triage Desk: staff console"),
    "login": ("Pieteikties", "Sign in"),
    "username": ("Lietotājvārds", "Username"),
    "password": ("Parole", "Password"),
    "login_failed": ("Nepareizs lietotājvārds vai parole.", "Wrong username or password."),
    "login_throttled": (
        "Pārāk daudz neveiksmīgu mēģinājumu. Mēģiniet vēlāk.",
        "Too many failed attempts. Try again later.",
    ),
    "login_expired": (
        "Veidlapa novecoja; mēģiniet vēlreiz.",
        "The form expired; please try again.",
    ),
    "logout": ("Iziet", "Sign out"),
    "queue": ("Darba rinda", "Work queue"),
    "overdue": ("Nokavēti", "Overdue"),
    "breaching_soon": ("Drīz termiņš", "Breaching soon"),
    "in_time": ("Pārējie", "The rest"),
    "out_of_hours": ("Ārpus darba laika (vēl nav atbrīvoti)", "Out of hours (not yet released)"),
    "refused": ("Atteiktie", "Refused"),
    "robots": ("Automātiskās vēstules", "Robot mail"),
    "quarantine": ("Karantīna", "Quarantine"),
    "outbox": ("Izejošie", "Outbox"),
    "dead_outbox": ("Nepiegādātie (mirušie) sūtījumi", "Dead outbox items"),
    "addresses": ("Nepiegādājamās adreses", "Undeliverable addresses"),
    "users": ("Lietotāji", "Users"),
    "number": ("Numurs", "Number"),
    "subject": ("Temats", "Subject"),
    "sender": ("Sūtītājs", "Sender"),
    "suggestion": ("Ieteikums", "Suggestion"),
    "category": ("Kategorija", "Category"),
    "feedback_type": ("Atsauksmes veids", "Feedback type"),
    "confidence": ("ticamība", "confidence"),
    "model": ("modelis", "model"),
    "due": ("Atbildes termiņš", "Response due"),
    "resolution_due": ("Atrisināšanas termiņš", "Resolution due"),
    "received": ("Saņemts", "Received"),
    "status": ("Statuss", "Status"),
    "assignee": ("Atbildīgais", "Assignee"),
    "assign": ("Piešķirt", "Assign"),
    "nobody": ("neviens", "nobody"),
    "confirm": ("Apstiprināt", "Confirm"),
    "confirmed": ("apstiprināts", "confirmed"),
    "confirm_selected": ("Apstiprināt atzīmētos", "Confirm selected"),
    "change": ("Mainīt", "Change"),
    "reason": ("Iemesls", "Reason"),
    "reason_hint": (
        "Iemeslu nosūtīs iesniedzējam (noteikumu 33. punkts).",
        "The reason is sent to the requester (terms clause 33).",
    ),
    "override": ("Atcelt atteikumu", "Override the refusal"),
    "reply": ("Atbildēt", "Reply"),
    "send_reply": ("Sūtīt atbildi", "Send reply"),
    "resolve": ("Atrisināts", "Resolve"),
    "reopen": ("Atvērt no jauna", "Reopen"),
    "note": ("Iekšēja piezīme", "Internal note"),
    "notes": ("Iekšējās piezīmes", "Internal notes"),
    "add_note": ("Pievienot piezīmi", "Add note"),
    "conversation": ("Sarakste", "Conversation"),
    "download_raw": ("Lejupielādēt oriģinālu", "Download original"),
    "attachments": ("Pielikumi", "Attachments"),
    "html_version": ("HTML versija (attīrīta)", "HTML version (sanitised)"),
    "suggestions": ("Ieteikumu vēsture", "Suggestion history"),
    "decisions": ("Lēmumi", "Decisions"),
    "audit": ("Notikumi", "Audit trail"),
    "no_tickets": ("Nav pieteikumu.", "No tickets."),
    "nothing": ("Nav.", "None."),
    "left": ("atlicis", "left"),
    "late": ("nokavēts", "late"),
    "answered_at": ("atbildēts", "answered"),
    "release": ("Atbrīvot", "Release"),
    "discard": ("Atmest", "Discard"),
    "retry": ("Sūtīt vēlreiz", "Retry"),
    "clear": ("Noņemt atzīmi", "Clear"),
    "attempts": ("mēģinājumi", "attempts"),
    "error": ("Kļūda", "Error"),
    "refused_action": ("Darbība atteikta", "Action refused"),
    "not_found": ("Nav atrasts.", "Not found."),
    "forbidden": ("Jūsu lomai tas nav atļauts.", "Your role may not do this."),
    "back": ("Atpakaļ", "Back"),
    "results": ("Rezultāts", "Result"),
    "language": ("Valoda", "Language"),
    "role": ("Loma", "Role"),
    "add_user": ("Pievienot lietotāju", "Add user"),
    "active": ("aktīvs", "active"),
    "disable": ("Bloķēt", "Disable"),
    "enable": ("Atbloķēt", "Enable"),
    "keys_help": (
        "Taustiņi: j/k nākamais/iepriekšējais, c apstiprināt, x mainīt, r atbildēt",
        "Keys: j/k next/previous, c confirm, x change, r reply",
    ),
    "urgent": ("steidzams", "urgent"),
    "representative": ("pārstāvis", "representative"),
    "client": ("Klients", "Client"),
    "channel": ("Kanāls", "Channel"),
    "desk": ("Dienests", "Desk"),
    "stored_only_metadata": ("saglabāti tikai dati par failu", "only its metadata is kept"),
    # JSON API (json-api): a reply sent twice at once (console/refusals.py reads err.<code>)
    "err.same_reply": (
        "Šī atbilde tikko jau ir ierindota sūtīšanai.",
        "This reply was just queued already.",
    ),
}

LANGUAGES = ("lv", "en")


def translate(language: str, key: str) -> str:
    """The text for ``key`` in ``language`` (Latvian for an unknown language); the key
    itself for an unknown key, so a missing text shows and a test can find it."""
    found = TEXTS.get(key)
    if found is None:
        return key
    return found[1] if language == "en" else found[0]


__all__ = ["LANGUAGES", "TEXTS", "translate"]
