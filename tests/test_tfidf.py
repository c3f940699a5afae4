"""The knowledge base's TF-IDF computes what scikit-learn's TfidfVectorizer would."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from triage_desk.responders.assistant import KnowledgeBase, _article_text, normalise
from triage_desk.responders.tfidf import CharTfidf, char_wb_ngrams


def test_ngrams_pad_words_and_count_a_short_word_once():
    assert char_wb_ngrams("ab  cdef", 3, 4) == [
        " ab",
        "ab ",
        " ab ",
        " cd",
        "cde",
        "def",
        "ef ",
        " cde",
        "cdef",
        "def ",
    ]
    assert char_wb_ngrams("a", 3, 5) == [" a "]


@pytest.mark.parametrize(
    "desk, language", [("municipal", "lv"), ("eparaksts", "ru"), ("municipal", "en")]
)
def test_matches_scikit_learn_on_the_knowledge_base(desk, language):
    articles = KnowledgeBase.load().for_desk(desk, language)
    texts = [_article_text(a) for a in articles]
    questions = [
        "Kā nomainīt paroli?",
        "как восстановить PIN-код",
        "invoice wrong sum",
        "",
        "sertifikāts apturēt tūlīt!!",
    ]
    ours = CharTfidf(normalise, ngram_range=(3, 5)).fit(texts)
    theirs = TfidfVectorizer(
        preprocessor=normalise,
        analyzer="char_wb",
        ngram_range=(3, 5),
        sublinear_tf=True,
        dtype=np.float32,
    ).fit(texts)
    assert ours.vocabulary == theirs.vocabulary_
    np.testing.assert_allclose(ours.idf, theirs.idf_, rtol=1e-6)
    for batch in (texts, questions):
        np.testing.assert_allclose(
            ours.transform(batch).toarray(), theirs.transform(batch).toarray(), atol=1e-6
        )
