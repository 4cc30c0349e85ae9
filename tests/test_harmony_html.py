"""The coloured token view: every token gets a box, classified as control token, header, channel or content."""
from __future__ import annotations

import gptoss_edu.harmony as h
from gptoss_edu.harmony.html import classify_tokens


def test_tokens_are_classified_by_their_place_in_the_message():
    enc = h.load_harmony_encoding(h.HarmonyEncodingName.HARMONY_GPT_OSS)
    call = (h.Message.from_role_and_content(h.Role.ASSISTANT, "{}").with_channel("commentary")
            .with_recipient("functions.f").with_content_type("<|constrain|>json"))
    answer = h.Message.from_role_and_content(h.Role.ASSISTANT, "Hi there").with_channel("final")
    tokens = enc.render(call) + enc.render(answer)
    kinds = classify_tokens(enc, tokens)
    text_of = [(enc.decode([t]), kind) for t, kind in zip(tokens, kinds)]
    assert all(kind == ("special", None) for t, kind in zip(tokens, kinds) if enc.is_special_token(t))
    assert ("assistant", ("header", None)) in text_of and ("=", ("header", None)) in text_of
    assert [text for text, kind in text_of if kind[0] == "channel"] == ["comment", "ary", "final"]
    assert [text for text, kind in text_of if kind == ("content", "final")] == ["Hi", " there"]
    assert ("{}", ("content", "commentary")) in text_of
    page = h.render_tokens_html(enc, tokens)
    assert page.count("<span") == len(tokens) and f'title="{tokens[0]}"' in page
