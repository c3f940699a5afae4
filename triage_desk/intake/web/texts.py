"""The public form's words in Latvian, English and Russian (the person chooses; a page
falls back to the desk's default language)."""

from __future__ import annotations

TEXTS: dict[str, dict[str, str]] = {
    "lv": {
        "title": "Pieteikums atbalsta dienestam",
        "intro": "Aprakstiet jautājumu vai problēmu. Atbildi sūtīsim uz norādīto e-pastu.",
        "subject": "Temats",
        "message": "Ziņojums",
        "email": "E-pasta adrese",
        "files": "Pielikumi",
        "files_hint": "Līdz {count} failiem, katrs līdz {size}, kopā līdz {total}.",
        "language": "Valoda",
        "send": "Nosūtīt",
        "honeypot": "Neaizpildiet šo lauku",
        "suggestions": "Varbūt šie raksti jau atbild uz jūsu jautājumu:",
        "received": "Pieteikums saņemts",
        "ticket": "Pieteikuma numurs",
        "status": "Statuss",
        "category": "Kategorija",
        "response_due": "Atbilde līdz",
        "status_link": "Saite uz pieteikuma statusu",
        "number_follows": "Pieteikums saņemts. Numuru un termiņu nosūtīsim uz jūsu e-pastu; "
        "šī lapa tos parādīs, tiklīdz pieteikums būs reģistrēts.",
        "too_many": "Pārāk daudz pieteikumu īsā laikā. Lūdzu, mēģiniet vēlāk vēlreiz.",
        "too_large": "Pielikumi ir par lielu vai to ir par daudz.",
        "expired": "Veidlapa ir novecojusi. Lūdzu, atveriet to no jauna un nosūtiet vēlreiz.",
        "bad_email": "Lūdzu, ievadiet derīgu e-pasta adresi.",
        "bad_message": "Lūdzu, uzrakstiet ziņojumu.",
        "not_found": "Lapa nav atrasta.",
        "unavailable": "Pieteikumu neizdevās saglabāt. Lūdzu, mēģiniet pēc minūtes vēlreiz.",
        "back": "Atpakaļ uz veidlapu",
        "st_queued": "saņemts ārpus darba laika, tiks izskatīts darba laikā",
        "st_open": "reģistrēts, gaida izskatīšanu",
        "st_refused": "atteikts",
        "st_answered": "atbildēts",
        "st_resolved": "atrisināts",
        "st_robot": "saņemts",
    },
    "en": {
        "title": "Request to the support desk",
        "intro": "Describe your question or problem. We reply to the email address you give.",
        "subject": "Subject",
        "message": "Message",
        "email": "Email address",
        "files": "Attachments",
        "files_hint": "Up to {count} files, each up to {size}, {total} in all.",
        "language": "Language",
        "send": "Send",
        "honeypot": "Leave this field empty",
        "suggestions": "These articles may already answer your question:",
        "received": "Request received",
        "ticket": "Request number",
        "status": "Status",
        "category": "Category",
        "response_due": "Response due",
        "status_link": "Link to the request's status",
        "number_follows": "Your request is received. Its number and due time follow by "
        "email; this page shows them as soon as the request is registered.",
        "too_many": "Too many requests in a short time. Please try again later.",
        "too_large": "The attachments are too large or too many.",
        "expired": "The form has expired. Please open it again and send it once more.",
        "bad_email": "Please enter a valid email address.",
        "bad_message": "Please write a message.",
        "not_found": "Page not found.",
        "unavailable": "The request could not be saved. Please try again in a minute.",
        "back": "Back to the form",
        "st_queued": "received out of hours, handled in working hours",
        "st_open": "registered, waiting for the desk",
        "st_refused": "refused",
        "st_answered": "answered",
        "st_resolved": "resolved",
        "st_robot": "received",
    },
    "ru": {
        "title": "Обращение в службу поддержки",
        "intro": "Опишите вопрос или проблему. Ответ придёт на указанный адрес эл. почты.",
        "subject": "Тема",
        "message": "Сообщение",
        "email": "Адрес эл. почты",
        "files": "Вложения",
        "files_hint": "До {count} файлов, каждый до {size}, всего до {total}.",
        "language": "Язык",
        "send": "Отправить",
        "honeypot": "Не заполняйте это поле",
        "suggestions": "Возможно, эти статьи уже отвечают на ваш вопрос:",
        "received": "Обращение получено",
        "ticket": "Номер обращения",
        "status": "Статус",
        "category": "Категория",
        "response_due": "Ответ до",
        "status_link": "Ссылка на статус обращения",
        "number_follows": "Обращение получено. Номер и срок придут по эл. почте; эта "
        "страница покажет их, как только обращение будет зарегистрировано.",
        "too_many": "Слишком много обращений за короткое время. Попробуйте позже.",
        "too_large": "Вложения слишком большие или их слишком много.",
        "expired": "Срок формы истёк. Откройте её заново и отправьте ещё раз.",
        "bad_email": "Введите действительный адрес эл. почты.",
        "bad_message": "Напишите сообщение.",
        "not_found": "Страница не найдена.",
        "unavailable": "Не удалось сохранить обращение. Попробуйте ещё раз через минуту.",
        "back": "Назад к форме",
        "st_queued": "получено в нерабочее время, будет рассмотрено в рабочее время",
        "st_open": "зарегистрировано, ожидает рассмотрения",
        "st_refused": "отказано",
        "st_answered": "отвечено",
        "st_resolved": "решено",
        "st_robot": "получено",
    },
}
LANGUAGES = tuple(TEXTS)


def choose_language(asked: str | None, accept: str | None, default: str) -> str:
    """``?lang=`` when it is one of ours, else the first of ours in Accept-Language, else
    the desk's default."""
    if asked in TEXTS:
        return asked
    for part in (accept or "").split(",")[:20]:
        tag = part.split(";")[0].strip().lower()[:2]
        if tag in TEXTS:
            return tag
    return default if default in TEXTS else "lv"
