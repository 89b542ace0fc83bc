"""FAQ sources: JSON, YAML and CSV parsed to the same entries, the example shop FAQ, and bad sources refused with
the reason. SOURCE, the FAQ the index tests (test_faq_index.py) build from, is here."""

import json

import pytest

from airelay.faq.source import FaqSourceError, parse_source

SOURCE = {
    "version": 1,
    "entries": [
        {
            "id": "shipping-time",
            "question": "배송은 얼마나 걸리나요?",
            "answer": "1~3일 걸립니다.",
            "alternates": ["How long does delivery take?", "언제 도착하나요?"],
            "tags": ["shipping"],
        },
        {"id": "refund", "question": "환불은 언제 되나요?", "answer": "검수 후 1~2영업일입니다."},
        {
            "id": "payment",
            "question": "결제 수단은?",
            "answer": "카드, 계좌이체, 간편결제.",
            "alternates": ["카카오페이 되나요?"],
        },
    ],
}


def source(data=SOURCE, name="faq.json"):
    return parse_source(json.dumps(data, ensure_ascii=False).encode(), name)


def test_json_yaml_and_csv_sources_give_the_same_entries():
    yaml_text = (
        "entries:\n"
        "  - id: shipping-time\n    question: 배송은 얼마나 걸리나요?\n    answer: 1~3일 걸립니다.\n"
        "    alternates: ['How long does delivery take?', '언제 도착하나요?']\n    tags: [shipping]\n"
        "  - {id: refund, question: '환불은 언제 되나요?', answer: 검수 후 1~2영업일입니다.}\n"
        "  - {id: payment, question: '결제 수단은?', answer: '카드, 계좌이체, 간편결제.', alternates: ['카카오페이 되나요?']}\n"
    )
    csv_text = (
        "id,question,answer,alternates,tags\n"
        "shipping-time,배송은 얼마나 걸리나요?,1~3일 걸립니다.,"
        "How long does delivery take?|언제 도착하나요?,shipping\n"
        "refund,환불은 언제 되나요?,검수 후 1~2영업일입니다.,,\n"
        'payment,결제 수단은?,"카드, 계좌이체, 간편결제.",카카오페이 되나요?,\n'
    )
    # GIVEN one FAQ written as JSON, YAML and CSV WHEN each is parsed
    parsed = [
        source().entries,
        parse_source(yaml_text.encode(), "faq.yaml").entries,
        parse_source(csv_text.encode(), "faq.csv").entries,
    ]
    # THEN the entries are identical, alternates and tags included
    assert parsed[0] == parsed[1] == parsed[2]
    assert parsed[0][0].texts == ("배송은 얼마나 걸리나요?", "How long does delivery take?", "언제 도착하나요?")


def test_the_example_faq_is_a_real_shop_faq():
    from importlib import resources

    data = resources.files("airelay").joinpath("data/faq/shop_faq.yaml").read_bytes()
    faq = parse_source(data, "shop_faq.yaml")
    korean = [e for e in faq.entries if any("\uac00" <= ch <= "\ud7a3" for ch in e.question)]
    assert len(faq.entries) >= 30 and len(korean) >= 25 and len(korean) < len(faq.entries)
    assert sum(1 for e in faq.entries if e.alternates) == len(faq.entries)
    assert {"shipping", "returns", "payment"} <= {t for e in faq.entries for t in e.tags}


@pytest.mark.parametrize(
    "data,name,message",
    [
        (
            {"entries": [{"id": "a", "question": "q", "answer": "x"}, {"id": "a", "question": "q2", "answer": "y"}]},
            "f.json",
            "duplicate id 'a'",
        ),
        ({"entries": [{"id": "a", "question": "q"}]}, "f.json", "answer"),
        ({"entries": [{"id": "a", "question": "q", "answer": "x", "answr": "typo"}]}, "f.json", "answr"),
        ({"entries": [{"id": "a", "question": "q", "answer": "x", "alternates": ["", "ok"]}]}, "f.json", "alternates"),
        ({"entries": []}, "f.json", "non-empty list"),
        ({"version": 2, "entries": []}, "f.json", "version"),
        ({"entries": [{"id": "a", "question": "q", "answer": "x"}]}, "f.txt", "unknown FAQ source type"),
    ],
)
def test_bad_sources_are_refused_with_the_reason(data, name, message):
    # GIVEN a source with one problem WHEN it is parsed THEN the error names the problem (and never half-loads)
    with pytest.raises(FaqSourceError, match=message):
        source(data, name)


def test_broken_syntax_is_a_source_error():
    with pytest.raises(FaqSourceError, match="not valid JSON"):
        parse_source(b"{not json", "f.json")
    with pytest.raises(FaqSourceError, match="not valid YAML"):
        parse_source(b"entries: [\n  - {id: a", "f.yaml")
    with pytest.raises(FaqSourceError, match="lacks answer"):
        parse_source(b"id,question\n1,q\n", "f.csv")
