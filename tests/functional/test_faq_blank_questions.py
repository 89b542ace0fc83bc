"""FaqFunction with a question of Hangul fillers only. U+3164 HANGUL FILLER and U+FFA0 HALFWIDTH HANGUL FILLER (and
the conjoining fillers U+115F, U+1160) render as nothing: Unicode lists them as Default_Ignorable_Code_Point, like
the zero-width space, and they are the usual way to type a "blank" on a Korean keyboard. README (FAQ bot): "An
empty question (whitespace and invisible characters ... count as nothing ...) gets 422", before any embedding or
chat call."""

import pytest

from tests.functional.conftest import clean_settings, fake_upstream, upstream  # noqa: F401
from tests.functional.test_faq_function import embedder, example_index, faq_function, invoke, serve  # noqa: F401


@pytest.mark.parametrize("question", ["\u3164", "\u3164 \u3164\u3164", "\uffa0\uffa0", "\u115f\u1160"])
def test_a_question_of_hangul_fillers_only_is_empty(faq_function, serve, embedder, question):  # noqa: F811
    upstream = serve()  # noqa: F811
    # WHEN a visitor asks a question that shows as nothing at all
    status, _, body = invoke(faq_function, "faq_question", {"question": question})
    # THEN it is refused as empty, like a zero-width space, and costs no embedding and no chat call
    assert status == 422, body
    assert body["error"]["code"] == "invalid_input"
    assert embedder.calls == 0 and not upstream.requests
