"""What the bot says in answer to its commands, in lv, en and ru (one dict per answer)."""

from __future__ import annotations

GREETING = {
    "lv": "Labdien! Šeit varat rakstīt atbalsta dienestam. Uzrakstiet savu jautājumu, un mēs "
    "to reģistrēsim un pateiksim, līdz kuram laikam atbildēsim. Turpmākās ziņas pievienosim "
    "tam pašam pieteikumam.\n/new <jautājums> — jauns pieteikums\n/status — jūsu atvērtie "
    "pieteikumi\n/lang — atbilžu valoda",
    "en": "Hello! Here you can write to the support desk. Write your question and we will "
    "register it and tell you by when we will answer. Your next messages join the same "
    "request.\n/new <question> — a new request\n/status — your open requests\n"
    "/lang — the language of our replies",
    "ru": "Здравствуйте! Здесь можно написать в службу поддержки. Напишите свой вопрос — мы "
    "его зарегистрируем и сообщим, до какого времени ответим. Следующие сообщения мы "
    "добавим к той же заявке.\n/new <вопрос> — новая заявка\n/status — ваши открытые заявки\n"
    "/lang — язык ответов",
}
NEW_HOW = {
    "lv": "Lai sāktu jaunu pieteikumu, uzrakstiet jautājumu aiz komandas, piemēram: "
    "/new Nevaru atvērt rēķinu",
    "en": "To start a new request, write your question after the command, e.g. "
    "/new I cannot open the invoice",
    "ru": "Чтобы начать новую заявку, напишите вопрос после команды, например: "
    "/new Не могу открыть счёт",
}
NONE_OPEN = {
    "lv": "Jums nav atvērtu pieteikumu.",
    "en": "You have no open requests.",
    "ru": "У вас нет открытых заявок.",
}
OPEN_HEADER = {
    "lv": "Jūsu atvērtie pieteikumi:",
    "en": "Your open requests:",
    "ru": "Ваши открытые заявки:",
}
DUE = {"lv": "atbilde līdz {due}", "en": "answer by {due}", "ru": "ответ до {due}"}
ANSWERED_NOTE = {"lv": "atbildēts", "en": "answered", "ru": "дан ответ"}


LANGUAGE_NAMES = {"lv": "latviešu", "en": "English", "ru": "русский"}
LANG_CHOICES = {
    "lv": "Izvēlieties atbilžu valodu:",
    "en": "Choose the language of our replies:",
    "ru": "Выберите язык ответов:",
}
LANG_SET = {
    "lv": "Turpmāk atbildēsim latviešu valodā.",
    "en": "From now on we will reply in English.",
    "ru": "Теперь мы будем отвечать на русском языке.",
}
LINKED = {
    "lv": "Šī saruna ir sasaistīta ar Jūsu kontu mūsu atbalsta dienestā. Lai to atsaistītu: "
    "/unlink",
    "en": "This chat is now linked to your record at our support desk. To undo it: /unlink",
    "ru": "Этот чат связан с Вашей записью в нашей службе поддержки. Чтобы отменить связь: /unlink",
}
LINK_INVALID = {
    "lv": "Šī saite vairs nav derīga (tā jau izmantota vai tai beidzies termiņš). Lūdziet "
    "mums jaunu.",
    "en": "This link is no longer valid (it has been used or has expired). Ask us for a new one.",
    "ru": "Эта ссылка больше не действительна (она уже использована или истёк её срок). "
    "Попросите у нас новую.",
}
UNLINKED = {
    "lv": "Šī saruna vairs nav sasaistīta ar Jūsu kontu.",
    "en": "This chat is no longer linked to your record.",
    "ru": "Этот чат больше не связан с Вашей записью.",
}
NOT_LINKED = {
    "lv": "Šī saruna nav sasaistīta ne ar vienu kontu.",
    "en": "This chat is not linked to any record.",
    "ru": "Этот чат не связан ни с какой записью.",
}
SIZE_UNITS = {"lv": ("MB", "KB"), "en": ("MB", "KB"), "ru": ("МБ", "КБ")}
FILE_TOO_LARGE = {
    "lv": "Failu {names} nevarējām saņemt: tas ir lielāks par {limit}, ko varam pieņemt šeit. "
    "Lūdzu, nosūtiet to pa e-pastu uz {email} vai pa daļām. Jūsu ziņu esam saņēmuši.",
    "en": "We could not receive {names}: it is larger than the {limit} we can take here. "
    "Please send it by email to {email}, or in smaller parts. Your message itself reached us.",
    "ru": "Не удалось получить файл {names}: он больше {limit}, которые мы можем принять "
    "здесь. Пожалуйста, отправьте его по электронной почте на {email} или по частям. Само "
    "сообщение мы получили.",
}


def lang_choices(language: str) -> str:
    """The header in ``language`` and one line per language, each in its own words."""
    lines = [f"/lang {code} — {name}" for code, name in LANGUAGE_NAMES.items()]
    return "\n".join([LANG_CHOICES[language], *lines])
