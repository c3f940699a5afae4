"""Splitting a long text into Telegram messages: a pure function, checked on any text."""

from __future__ import annotations

from html import escape

from hypothesis import given, settings
from hypothesis import strategies as st

from triage_desk.responders.telegram_split import MAX_MESSAGE, split_message, units

# Text that looks like mail and chat: words, sentences, paragraphs, and the characters that
# make cutting hard (emoji outside the BMP, combining accents, HTML specials, long tokens).
_WORD = st.one_of(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyzāēīū", min_size=1, max_size=12),
    st.sampled_from(["<b>", "&amp;", "a<b", "AT&T", "😀", "e\u0301", "https://x.lv/" + "a" * 90]),
)
_SEP = st.sampled_from([" ", " ", " ", ". ", "! ", "\n", "\n\n", "\n \n", "… "])
TEXTS = st.lists(st.tuples(_WORD, _SEP), max_size=900).map(
    lambda pairs: "".join(w + s for w, s in pairs)
)


@settings(max_examples=150, deadline=None)
@given(TEXTS, st.integers(min_value=2, max_value=300))
def test_every_piece_fits_and_the_pieces_give_the_text_back(text, limit):
    pieces = split_message(text, limit)
    assert "".join(pieces) == text
    assert all(units(piece) <= limit for piece in pieces)
    assert all(pieces) or pieces == [""]


@settings(max_examples=60, deadline=None)
@given(TEXTS)
def test_escaping_each_piece_never_splits_a_tag_or_an_entity(text):
    """The pieces are escaped after the cut, so the HTML of each piece is whole and the
    messages together read as the text."""
    pieces = split_message(text, 120)
    assert "".join(escape(p, quote=False) for p in pieces) == escape(text, quote=False)


@settings(max_examples=60, deadline=None)
@given(st.text(min_size=1, max_size=1500))
def test_any_unicode_at_all(text):
    pieces = split_message(text, 64)
    assert "".join(pieces) == text and all(units(p) <= 64 for p in pieces)


def test_cuts_prefer_paragraphs_then_sentences_then_words():
    paragraph = ("Teikums numur viens. " * 60).strip()  # ~1,260 characters
    text = "\n\n".join([paragraph] * 7)  # ~8,900 characters
    pieces = split_message(text)
    assert len(pieces) == 3
    assert all(p.rstrip().endswith("viens.") and p.endswith("\n\n") for p in pieces[:-1])
    sentences = "Šis ir teikums. " * 400  # no paragraph break at all
    assert all(p.endswith("teikums. ") for p in split_message(sentences)[:-1])
    words = "vārds " * 1000
    assert all(p.endswith("vārds ") for p in split_message(words)[:-1])


def test_a_paragraph_break_too_early_gives_way_to_a_later_sentence():
    text = "Labdien!\n\n" + "Garš teikums bez rindkopām. " * 200
    first = split_message(text)[0]
    assert units(first) > MAX_MESSAGE // 2 and first.endswith("rindkopām. ")


def test_emoji_count_twice_and_accents_stay_with_their_letter():
    emoji = "😀" * 3000  # 6,000 UTF-16 units
    assert [units(p) for p in split_message(emoji)] == [4096, 1904]
    accented = "x" + "e\u0301" * 3000  # a cut at 4,096 would fall before an accent
    assert all(not p.startswith("\u0301") for p in split_message(accented))


def test_short_text_is_one_piece():
    assert split_message("Labdien!") == ["Labdien!"] and split_message("") == [""]
