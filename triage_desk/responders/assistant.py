"""The virtual assistant: finds the knowledge-base article that answers a question, or declines.

Articles live in ``templates/kb/<desk>/<lang>/<slug>.md``: a small front matter block
(``title``, ``questions``, ``keywords``, optional ``url`` and ``categories``) and a Markdown
body. The same slug in several languages is the same article translated.

Retrieval is TF-IDF over character n-grams (3-5, inside word boundaries) of text that is
lower-cased, stripped of diacritics and of function words, so "paroli"/"parole"/"paroles",
"sertifikats"/"sertifikātu" and "пароль"/"пароля" share most of their features. Each article
is indexed as several units: its title, each question variant, its keywords, and one unit of
everything (title + questions + keywords + body). An article's similarity blends its best
title/question/keyword unit with its whole-article unit (both cosines, so 0..1); it is then
scaled by how much of the question the article covers (the share of the question's word stems
that occur in the article), which pulls down questions that share a phrase with an article
("how much does ... cost") but are about something else. The score stays in 0..1 and one
threshold works across desks and languages (tests/test_assistant.py prints the figures it was
chosen on). Below ``min_score`` the assistant returns nothing: it declines rather than
guesses, and the caller says when a human will answer.

Search order: the articles in the question's language first; when none of them reaches the
threshold, the desk's articles in its other languages (an English question about a topic
that exists only in Latvian still finds it; the article comes back in the language it is
written in).
"""

from __future__ import annotations

import functools
import re
import threading
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from triage_desk.classifier import text as classifier_text
from triage_desk.classifier.text import fold_diacritics
from triage_desk.responders import index_cache, tfidf
from triage_desk.responders.tfidf import CharTfidf, Postings, char_wb_ngrams, word_ngrams

KB_ROOT = Path(__file__).resolve().parent.parent / "templates" / "kb"
LANGUAGES = ("lv", "en", "ru")
# similarity = UNIT_WEIGHT * best title/question/keyword unit + (1 - UNIT_WEIGHT) * whole article
UNIT_WEIGHT = 0.5
# score = similarity * (1 - COVERAGE_WEIGHT + COVERAGE_WEIGHT * share of question stems covered)
COVERAGE_WEIGHT = 0.4
# Recommended ``desks.<desk>.assistant.min_score`` (chosen on tests/assistant_questions.jsonl).
DEFAULT_MIN_SCORE = 0.22
# Long mails say what they are about early; the cap bounds the cost of the rare long one.
MAX_QUESTION_CHARS = 1000
NGRAMS = (3, 5)  # character n-gram lengths the indexes compare
WORD_CACHE = 1 << 15  # words whose n-grams a desk's lexicon keeps looked up (_Lexicon.lookup)
# A saved index (index_cache) is read only while these files are unchanged.
_ANALYSER_SOURCES = (Path(str(classifier_text.__file__)), Path(str(tfidf.__file__)), Path(__file__))

_SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_FRONT_KEY_RE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\s*:\s*(.*)$")
_LIST_ITEM_RE = re.compile(r"^\s+-\s+(.*)$")
_LIST_KEYS = frozenset({"questions", "keywords", "categories"})
_TEXT_KEYS = frozenset({"title", "url"})
_URL_RE = re.compile(r"https?://\S+|www\.\S+")
_NON_WORD_RE = re.compile(r"[^\w]+")
_UNDERSCORE_RE = re.compile(r"_+")
# "e-pasts"/"epasts", "e-paraksts"/"eparaksts", "e-mail"/"email": a one-letter prefix joined by a
# hyphen is written both ways, so the hyphen goes.
_SHORT_PREFIX_RE = re.compile(r"\b(\w)-(?=\w)")
_MARKDOWN_LINK_RE = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_EMPHASIS_RE = re.compile(r"(\*\*|__|`)")


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Function words, greetings and politeness that carry no topic, and the country and capital,
# which every question to a Latvian institution may name. Removed before n-grams so that
# a long, polite message is not "similar" to every article for saying "labdien, lūdzu, paldies".
# Written without diacritics: they are compared with folded text.
_STOP_WORDS = _words(
    """
    a an the and or but if of to in on at by for from with without about into over under
    is are was were be been being am do does did done have has had having i me my mine we us
    our you your yours he she it its they them their this that these those there here what
    which who whom whose when where why how can could would should will shall may might must
    not no yes so than then too very just also any some all please pls plz thanks thank hello
    hi hey dear regards kind best good sir madam need want get got like know one someone
    something anyone anything as up out now
    un vai bet ja ka kas ko kam kur kad ar par no uz pie pec pirms bez lidz ari ir bija bus
    esmu esam esat ta tas to tie sis si sie mans mana mani manu mums jums jus es tu vins vina
    vini vinas man tev vinam vinai musu jusu savu sava savs kads kada kadu kaut lai tad vel
    jau tikai loti labdien sveiki sveicinati paldies ludzu lugums ludzam cienijamie cienijama
    cienijamais cienu labrit labvakar jautajums jautajumu nevaru varu var varat varetu gribu
    gribetu vajag vajadzetu kapec cik kurs kura kuru kuri kadi kadas
    и в во не на с со к ко по за из от до о об у а но же ли бы что как так это этот эта эти
    то тот та те мой моя мои мне меня я мы вы ты он она они их его ее нам вам нас вас есть
    был была были будет быть для при без над под уже еще только очень всё все здравствуйте
    добрый спасибо пожалуйста помогите подскажите вопрос можно могу может нужно надо хочу
    хотел хотела уважаемые кто где когда куда почему зачем какой какая какое какие каким
    сколько чем
    latvia latvian latvija latvijas latvija riga rigas рига риге риги латвия латвии латвийский
    """
)

# Inflectional endings (diacritics folded) stripped to compare word stems: Latvian, English,
# Russian. Longest first; a stem keeps at least three letters and at most six.
_ENDINGS = tuple(
    sorted(
        _words(
            """
            aties eties ities ties sies siet sim ajiem ajam ajai ajas ajos ajus iem ies ais aja
            aju am as ai ei es em is im os us um ts at et it ju ja ji a e i o u s ing ed
            иями ями ами ого его ому ему ыми ими ать ять ить еть ала ила ешь ая яя ое ее ые ие
            ой ей ий ый ов ев ах ях ам ям ом ем ую юю ть ет ют ят ит ся а я о е ы и у ю ь й
            """
        ),
        key=len,
        reverse=True,
    )
)
_MIN_STEM = 3
_MAX_STEM = 6


class KnowledgeBaseError(ValueError):
    """An article file cannot be read: bad front matter, missing title, bad slug."""


@dataclass(frozen=True)
class Article:
    desk: str
    language: str
    slug: str
    title: str
    questions: tuple[str, ...]
    keywords: tuple[str, ...]
    body: str
    url: str | None = None
    categories: tuple[str, ...] = ()
    path: Path | None = field(default=None, compare=False)

    @property
    def summary(self) -> str:
        """The first paragraph of the body that is not a heading, as one line of plain text;
        when it ends with a colon, the steps or list it introduces follow, a line each."""
        return plain_text(summary_text(self.body))


@dataclass(frozen=True)
class ArticleMatch:
    """One suggestion: the article, in the language it is written in, and its score (0..1).

    ``summary`` is plain text (the body's first paragraph); ``body`` is the Markdown answer
    (``plain_text`` strips its inline markup for a plain-text channel).
    """

    slug: str
    title: str
    summary: str
    body: str
    url: str | None
    score: float
    language: str
    desk: str
    categories: tuple[str, ...] = ()


def first_paragraph(markdown: str) -> str:
    lines: list[str] = []
    for raw in markdown.strip().splitlines():
        line = raw.strip()
        if not line:
            if lines:
                break
            continue
        if line.startswith("#") and not lines:
            continue
        lines.append(line)
    return " ".join(lines)


def _blocks(markdown: str) -> list[list[str]]:
    """The body's blocks (separated by blank lines) as stripped lines, headings left out."""
    blocks: list[list[str]] = [[]]
    for raw in markdown.strip().splitlines():
        line = raw.strip()
        if not line:
            if blocks[-1]:
                blocks.append([])
            continue
        if line.startswith("#") and not blocks[-1]:
            continue
        blocks[-1].append(line)
    return [b for b in blocks if b]


_MARKDOWN_ITEM_RE = re.compile(r"^(?:[-*+]|\d+[.)])\s")  # a list item; a table row starts "|"
_TABLE_RULE_RE = re.compile(r"^\|?[\s:|-]+\|?$")


def summary_text(markdown: str) -> str:
    """``first_paragraph``; and when it ends with a colon ("Check in this order:"), the list
    after it, one item a line: a heading and a link without the steps answers nothing."""
    blocks = _blocks(markdown)
    if not blocks:
        return ""
    text = " ".join(blocks[0])
    for block in blocks[1:]:
        if not text.endswith(":"):
            break
        items: list[str] = []
        for line in block:
            if _TABLE_RULE_RE.match(line):
                continue  # the |---|---| under a table's header row
            if items and not _MARKDOWN_ITEM_RE.match(line) and not line.startswith("|"):
                items[-1] += " " + line  # a wrapped line of the item above
            else:
                items.append(line)
        text += "\n" + "\n".join(items)
    return text


def plain_text(markdown: str) -> str:
    """Markdown inline markup removed (bold, code, links → their text), for plain-text mail."""
    return _EMPHASIS_RE.sub("", _MARKDOWN_LINK_RE.sub(r"\1", markdown))


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def parse_front_matter(text: str, source: str = "<article>") -> tuple[dict[str, object], str]:
    """Split ``---`` front matter from the body. Supports ``key: value``, ``key: [a, b]`` and
    block lists (``key:`` then ``  - item`` lines): all the articles need, no YAML library."""
    lines = text.lstrip("\ufeff").splitlines()
    if not lines or lines[0].strip() != "---":
        raise KnowledgeBaseError(f"{source}: must start with a '---' front matter line")
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == "---")
    except StopIteration:
        raise KnowledgeBaseError(f"{source}: front matter has no closing '---'") from None
    meta: dict[str, object] = {}
    current: str | None = None
    for number, line in enumerate(lines[1:end], start=2):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        item = _LIST_ITEM_RE.match(line)
        if item:
            if current is None or not isinstance(meta.get(current), list):
                raise KnowledgeBaseError(f"{source}:{number}: list item outside a list key")
            meta[current].append(_unquote(item.group(1)))  # type: ignore[union-attr]
            continue
        pair = _FRONT_KEY_RE.match(line)
        if not pair:
            raise KnowledgeBaseError(f"{source}:{number}: expected 'key: value', got {line!r}")
        key, value = pair.group(1), pair.group(2).strip()
        if key in meta:
            raise KnowledgeBaseError(f"{source}:{number}: duplicate key {key!r}")
        current = key
        if key in _LIST_KEYS:
            if not value:
                meta[key] = []
            elif value.startswith("[") and value.endswith("]"):
                meta[key] = [_unquote(v) for v in value[1:-1].split(",") if v.strip()]
            else:
                raise KnowledgeBaseError(f"{source}:{number}: {key!r} must be a list")
        elif key in _TEXT_KEYS:
            meta[key] = _unquote(value)
        else:
            raise KnowledgeBaseError(f"{source}:{number}: unknown key {key!r}")
    body = "\n".join(lines[end + 1 :]).strip()
    return meta, body


def read_article(path: Path, desk: str, language: str) -> Article:
    slug = path.stem
    if not _SLUG_RE.match(slug):
        raise KnowledgeBaseError(f"{path}: slug {slug!r} must be lower-case letters, digits, '-'")
    meta, body = parse_front_matter(path.read_text(encoding="utf-8"), str(path))
    title = str(meta.get("title") or "").strip()
    if not title:
        raise KnowledgeBaseError(f"{path}: no title")
    if not body:
        raise KnowledgeBaseError(f"{path}: no answer body")
    url = str(meta["url"]).strip() if meta.get("url") else None
    return Article(
        desk=desk,
        language=language,
        slug=slug,
        title=title,
        questions=tuple(q for q in meta.get("questions", []) if q),  # type: ignore[union-attr]
        keywords=tuple(k for k in meta.get("keywords", []) if k),  # type: ignore[union-attr]
        body=body,
        url=url,
        categories=tuple(meta.get("categories", [])),  # type: ignore[arg-type]
        path=path,
    )


@dataclass(frozen=True)
class KnowledgeBase:
    articles: tuple[Article, ...]

    @classmethod
    def load(cls, root: Path | None = None) -> KnowledgeBase:
        """Read every ``<root>/<desk>/<lang>/<slug>.md`` (default: the bundled articles)."""
        root = KB_ROOT if root is None else Path(root)
        articles: list[Article] = []
        for path in sorted(root.glob("*/*/*.md")):
            language = path.parent.name
            desk = path.parent.parent.name
            if language not in LANGUAGES:
                raise KnowledgeBaseError(f"{path}: language folder must be one of {LANGUAGES}")
            articles.append(read_article(path, desk, language))
        return cls(tuple(articles))

    def desks(self) -> list[str]:
        return sorted({a.desk for a in self.articles})

    def for_desk(self, desk: str, language: str | None = None) -> list[Article]:
        return [
            a
            for a in self.articles
            if a.desk == desk and (language is None or a.language == language)
        ]

    def get(self, desk: str, language: str, slug: str) -> Article | None:
        for article in self.articles:
            if (article.desk, article.language, article.slug) == (desk, language, slug):
                return article
        return None


def normalise(text: str) -> str:
    """What the vectoriser reads: folded, lower-case words without links, markup or stop words."""
    text = _MARKDOWN_LINK_RE.sub(r"\1", text)
    text = _URL_RE.sub(" ", text)
    text = _SHORT_PREFIX_RE.sub(r"\1", fold_diacritics(text.lower()))
    text = _UNDERSCORE_RE.sub(" ", _NON_WORD_RE.sub(" ", text))
    return " ".join(w for w in text.split() if w not in _STOP_WORDS)


_ENDINGS_BY_LENGTH = tuple(
    (length, frozenset(e for e in _ENDINGS if len(e) == length))
    for length in sorted({len(e) for e in _ENDINGS}, reverse=True)
)


@functools.lru_cache(maxsize=1 << 16)  # the same words come back in every question
def stem(word: str) -> str:
    """A crude stem of a normalised word: "paroles" → "parol", "пароля" → "парол"."""
    # The longest ending that leaves a long enough stem (one set lookup per length).
    for length, endings in _ENDINGS_BY_LENGTH:
        if len(word) - length >= _MIN_STEM and word[-length:] in endings:
            return word[:-length][:_MAX_STEM]
    return word[:_MAX_STEM]


def stems(text: str) -> list[str]:
    """The stems of the words in ``text`` that say something (no stop words, no numbers)."""
    return normalised_stems(normalise(text))


def normalised_stems(normalised: str) -> list[str]:
    """``stems`` of a text already through ``normalise``."""
    return [stem(w) for w in normalised.split() if len(w) >= 2 and not w.isdigit()]


def _article_text(article: Article) -> str:
    return "\n".join((article.title, *article.questions, *article.keywords, article.body))


@dataclass
class _Index:
    """The articles of one desk in one language, vectorised once."""

    articles: list[Article]
    vectorizer: CharTfidf
    # Rows: first the units (title, question variants and keywords: one row each), then
    # one row per article with everything it says; one product scores both.
    rows: Postings
    units: int  # how many unit rows come first
    unit_owner: np.ndarray  # article position of each unit row
    stem_articles: dict[str, np.ndarray]  # each word stem: the articles that use it

    @classmethod
    def build(cls, articles: list[Article]) -> _Index:
        unit_texts: list[str] = []
        owners: list[int] = []
        for position, article in enumerate(articles):
            for text in (article.title, *article.questions, " ".join(article.keywords)):
                if text.strip():
                    unit_texts.append(text)
                    owners.append(position)
        whole_texts = [_article_text(a) for a in articles]
        vectorizer = CharTfidf(normalise, ngram_range=NGRAMS, dtype=np.float32)
        rows = vectorizer.fit_transform(unit_texts + whole_texts)
        return cls(
            articles=articles,
            vectorizer=vectorizer,
            rows=Postings(rows),
            units=len(unit_texts),
            unit_owner=np.asarray(owners, dtype=np.int64),
            stem_articles=_articles_by_stem([stems(text) for text in whole_texts]),
        )

    def arrays(self) -> dict[str, np.ndarray]:
        """Everything but the articles, as arrays (``index_cache``)."""
        stems = list(self.stem_articles)
        owners = [self.stem_articles[s] for s in stems]
        return {
            # The vocabulary's columns are its terms in sorted order (CharTfidf).
            "terms": np.array(list(self.vectorizer.vocabulary), dtype=str),
            "idf": self.vectorizer.idf,
            **{f"rows.{k}": v for k, v in self.rows.arrays().items()},
            "units": np.asarray(self.units),
            "unit_owner": self.unit_owner,
            "stems": np.array(stems, dtype=str),
            "stem_ends": np.cumsum([len(o) for o in owners], dtype=np.int64),
            "stem_articles": (np.concatenate(owners) if owners else np.zeros(0, dtype=np.int64)),
        }

    @classmethod
    def of_arrays(cls, articles: list[Article], arrays: dict[str, np.ndarray]) -> _Index:
        vectorizer = CharTfidf(normalise, ngram_range=NGRAMS, dtype=np.float32)
        terms = arrays["terms"].tolist()
        vectorizer.vocabulary = dict(zip(terms, range(len(terms)), strict=True))
        vectorizer.idf = arrays["idf"]
        ends = arrays["stem_ends"].tolist()
        owners = np.split(arrays["stem_articles"], ends[:-1]) if ends else []
        return cls(
            articles=articles,
            vectorizer=vectorizer,
            rows=Postings.of_arrays({k[5:]: v for k, v in arrays.items() if k.startswith("rows.")}),
            units=int(arrays["units"]),
            unit_owner=arrays["unit_owner"],
            stem_articles=dict(zip(arrays["stems"].tolist(), owners, strict=True)),
        )

    def scores(
        self, question: str | _Question, row: tuple[np.ndarray, np.ndarray] | None = None
    ) -> np.ndarray:
        """Every article's score; ``row``: the question's columns and weights, when the
        caller has them (``_Lexicon``)."""
        query = question if isinstance(question, _Question) else _Question.of(question)
        columns, weights = row if row is not None else self.vectorizer.row(query.ngrams)
        question_stems = query.stems
        if len(columns) == 0 or not question_stems:
            return np.zeros(len(self.articles), dtype=np.float32)
        sims = self.rows.dot(columns, weights)
        unit_sims, whole_sims = sims[: self.units], sims[self.units :]
        best_unit = np.zeros(len(self.articles), dtype=np.float32)
        np.maximum.at(best_unit, self.unit_owner, unit_sims)
        similarity = UNIT_WEIGHT * best_unit + (1.0 - UNIT_WEIGHT) * whole_sims
        found = [self.stem_articles[s] for s in question_stems if s in self.stem_articles]
        covered = (
            np.bincount(np.concatenate(found), minlength=len(self.articles))
            if found
            else np.zeros(len(self.articles))
        )
        coverage = covered.astype(np.float32) / len(question_stems)
        return similarity * (1.0 - COVERAGE_WEIGHT + COVERAGE_WEIGHT * coverage)


@dataclass(frozen=True)
class _Question:
    """A question as every index reads it (normalised, as each index's vectoriser does, and
    its word stems): analysed once for all of a desk's languages."""

    normalised: str
    stems: frozenset[str]

    @classmethod
    def of(cls, text: str) -> _Question:
        normalised = normalise(text[:MAX_QUESTION_CHARS])
        return cls(normalised, frozenset(normalised_stems(normalised)))

    @property
    def ngrams(self) -> Counter[str]:
        return Counter(char_wb_ngrams(self.normalised, *NGRAMS))


def _fingerprint(articles: dict[str, list[Article]]) -> str:
    """What a desk's indexes are made of: its articles, the n-gram range and the code that
    analyses text (this module, the vectoriser and diacritics folding)."""
    parts = [str(NGRAMS)]
    for language, chosen in articles.items():
        for a in chosen:
            parts += [language, a.slug, a.title, *a.questions, "\x1f", *a.keywords, a.body]
    return index_cache.fingerprint(parts, _ANALYSER_SOURCES)


def _articles_by_stem(article_stems: list[list[str]]) -> dict[str, np.ndarray]:
    owners: dict[str, list[int]] = {}
    for position, words in enumerate(article_stems):
        for word in set(words):
            owners.setdefault(word, []).append(position)
    return {word: np.array(positions, dtype=np.int64) for word, positions in owners.items()}


class _Lexicon:
    """Every n-gram of one desk's indexes, numbered once: a question's n-grams are looked up
    once for all the desk's languages (a lookup per index cost as much as its scoring)."""

    def __init__(self, indexes: dict[str, _Index]) -> None:
        ids: dict[str, int] = {}
        for index in indexes.values():
            for term in index.vectorizer.vocabulary:
                ids.setdefault(term, len(ids))
        self.ids = ids
        self.local: dict[str, np.ndarray] = {}  # per language: our id -> its column, or -1
        for language, index in indexes.items():
            vocabulary = index.vectorizer.vocabulary
            local = np.full(len(ids), -1, dtype=np.int64)
            local[np.fromiter((ids[t] for t in vocabulary), np.int64, len(vocabulary))] = (
                np.fromiter(vocabulary.values(), np.int64, len(vocabulary))
            )
            self.local[language] = local
        self._word_ids: dict[str, list[int]] = {}

    def lookup(self, query: _Question) -> tuple[np.ndarray, np.ndarray]:
        """Our ids of the question's n-grams that some index knows, and their counts.

        A question's n-grams are its words' n-grams (``char_wb``), and the same words come
        back in question after question: each word's known ids are looked up once and kept
        (at most ``WORD_CACHE`` words; a mail of made-up words only refills it)."""
        found: list[int] = []
        cache, ids = self._word_ids, self.ids
        for word in query.normalised.split():
            known = cache.get(word)
            if known is None:
                known = [ids[g] for g in word_ngrams(word, *NGRAMS) if g in ids]
                if len(cache) >= WORD_CACHE:
                    cache.clear()
                cache[word] = known
            found.extend(known)
        if not found:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        unique, counts = np.unique(np.array(found, dtype=np.int64), return_counts=True)
        return unique, counts.astype(np.float64)

    def row(
        self, index: _Index, language: str, found: tuple[np.ndarray, np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray]:
        """The question's row for ``index``, from ``lookup``'s result."""
        ids, counts = found
        columns = self.local[language][ids]
        keep = columns >= 0
        return index.vectorizer.row_of(columns[keep], counts[keep])


class Assistant:
    """Answers questions from one knowledge base.

    Each desk's articles are vectorised once, all its languages together, on its first
    question (a question not answered in its own language is looked up in the others).
    """

    def __init__(
        self,
        kb: KnowledgeBase,
        min_score: float = DEFAULT_MIN_SCORE,
        cache_dir: Path | None = None,
    ) -> None:
        """``cache_dir``: where vectorised desks are kept for the next process
        (``index_cache``); None builds them in every process."""
        if not 0.0 <= min_score <= 1.0:
            raise ValueError(f"min_score must be between 0 and 1, got {min_score}")
        self.kb = kb
        self.min_score = min_score
        self.cache_dir = cache_dir
        self._articles: dict[tuple[str, str], list[Article]] = {
            (desk, language): articles
            for desk in kb.desks()
            for language in LANGUAGES
            if (articles := kb.for_desk(desk, language))
        }
        self._desks: dict[str, tuple[dict[str, _Index], _Lexicon]] = {}
        self._lock = threading.Lock()

    def _desk(self, desk: str) -> tuple[dict[str, _Index], _Lexicon]:
        """The desk's index per language and their common lexicon, built on first use."""
        built = self._desks.get(desk)
        if built is None:
            with self._lock:  # listener threads may ask at once; build once
                built = self._desks.get(desk)
                if built is None:
                    indexes = self._load_or_build(desk)
                    built = self._desks[desk] = (indexes, _Lexicon(indexes))
        return built

    def _load_or_build(self, desk: str) -> dict[str, _Index]:
        articles = {language: self._articles[(desk, language)] for language in self.languages(desk)}
        path = None
        if self.cache_dir is not None:
            path = self.cache_dir / f"kb-{desk}-{_fingerprint(articles)}.npz"
            saved = index_cache.load(path)
            if saved is not None:
                return {
                    language: _Index.of_arrays(
                        chosen,
                        {
                            k.split(".", 1)[1]: v
                            for k, v in saved.items()
                            if k.startswith(f"{language}.")
                        },
                    )
                    for language, chosen in articles.items()
                }
        indexes = {language: _Index.build(chosen) for language, chosen in articles.items()}
        if path is not None:
            index_cache.save(
                path,
                {
                    f"{language}.{name}": array
                    for language, index in indexes.items()
                    for name, array in index.arrays().items()
                },
            )
        return indexes

    def _index(self, desk: str, language: str) -> _Index | None:
        return self._desk(desk)[0].get(language)

    def warm_up(self, desks: Iterable[str]) -> None:
        """Vectorise these desks' articles now (a worker does it while intake starts up)."""
        for desk in desks:
            self._desk(desk)

    def languages(self, desk: str) -> list[str]:
        return [lang for lang in LANGUAGES if (desk, lang) in self._articles]

    def score_all(self, question: str, desk: str, language: str) -> list[ArticleMatch]:
        """Every article of the desk in ``language``, best first, with no threshold."""
        indexes, lexicon = self._desk(desk)
        index = indexes.get(language)
        if index is None:
            return []
        query = _Question.of(question)
        scores = index.scores(query, lexicon.row(index, language, lexicon.lookup(query)))
        order = np.argsort(-scores, kind="stable")
        return [_match(index.articles[i], float(scores[i])) for i in order]

    def answer(
        self,
        question: str,
        desk: str,
        language: str,
        limit: int = 3,
        *,
        min_score: float | None = None,
    ) -> list[ArticleMatch]:
        """Up to ``limit`` articles that answer ``question``, best first; [] to decline.

        ``min_score`` overrides the assistant's threshold for this call (one assistant can
        serve several desks, each with its own configured threshold).
        """
        threshold = self.min_score if min_score is None else min_score
        if limit <= 0 or not question.strip():
            return []
        desk_languages = self.languages(desk)
        first = [language] if language in desk_languages else []
        query = _Question.of(question)
        indexes, lexicon = self._desk(desk)
        known = lexicon.lookup(query)  # once for every language
        for group in (first, [lang for lang in desk_languages if lang != language]):
            found = _best_by_slug(self._above(query, known, indexes, lexicon, group, threshold))
            if found:
                return found[:limit]
        return []

    @staticmethod
    def _above(
        query: _Question,
        known: tuple[np.ndarray, np.ndarray],
        indexes: dict[str, _Index],
        lexicon: _Lexicon,
        languages: list[str],
        threshold: float,
    ) -> Iterator[ArticleMatch]:
        """The matches scoring at least ``threshold`` (the rest are never built)."""
        for lang in languages:
            index = indexes.get(lang)
            if index is None:
                continue
            scores = index.scores(query, lexicon.row(index, lang, known))
            # Candidates within rounding of the threshold; then exactly as a match compares.
            for position in np.flatnonzero(scores >= threshold - 1e-4).tolist():
                score = float(scores[position])
                if _shown(score) >= threshold:
                    yield _match(index.articles[position], score)


def _best_by_slug(matches: Iterable[ArticleMatch]) -> list[ArticleMatch]:
    best: dict[str, ArticleMatch] = {}
    for match in matches:
        if match.slug not in best or match.score > best[match.slug].score:
            best[match.slug] = match
    return sorted(best.values(), key=lambda m: -m.score)


def _shown(score: float) -> float:
    return round(min(max(score, 0.0), 1.0), 4)


def _match(article: Article, score: float) -> ArticleMatch:
    return ArticleMatch(
        slug=article.slug,
        title=article.title,
        summary=article.summary,
        body=article.body,
        url=article.url,
        score=_shown(score),
        language=article.language,
        desk=article.desk,
        categories=article.categories,
    )


__all__: Sequence[str] = (
    "DEFAULT_MIN_SCORE",
    "KB_ROOT",
    "Article",
    "ArticleMatch",
    "Assistant",
    "KnowledgeBase",
    "KnowledgeBaseError",
    "first_paragraph",
    "normalise",
    "parse_front_matter",
    "plain_text",
    "stem",
    "stems",
)
