"""Every behaviour that openai-harmony's own test suites check (its Python ``tests/test_harmony.py``
and Rust ``src/tests.rs``), restated here and checked on ours, each against openai-harmony itself
rather than against copied expected files. Rendering cases not listed here (browser, python and
function tools, dates, reasoning efforts) are in ``test_harmony_suite.py``; errors and JSON in
``test_harmony_errors.py``.
"""
from __future__ import annotations

import pytest

import gptoss_edu.harmony as ours

theirs = pytest.importorskip("openai_harmony")
LIBS = {"ours": ours, "theirs": theirs}


@pytest.fixture(scope="module")
def encodings():
    return {"ours": ours.load_harmony_encoding(ours.HarmonyEncodingName.HARMONY_GPT_OSS),
            "theirs": theirs.load_harmony_encoding(theirs.HarmonyEncodingName.HARMONY_GPT_OSS)}


def both(encodings, scenario):
    """``scenario(lib, enc)`` run on each library; asserts equal results and returns ours."""
    results = {name: scenario(LIBS[name], encodings[name]) for name in LIBS}
    assert results["ours"] == results["theirs"]
    return results["ours"]


def plain(messages) -> list[dict]:
    return [m.to_dict() for m in messages]


def tokens(enc, text: str) -> list[int]:
    return enc.encode(text, allowed_special="all")


def stream(lib, enc, token_ids, role=None, strict=True):
    parser = lib.StreamableParser(enc, role and lib.Role(role), strict=strict)
    deltas = []
    for token in token_ids:
        parser.process(token)
        if parser.last_content_delta is not None:
            deltas.append(parser.last_content_delta)
    return parser, deltas


# -- rendering -------------------------------------------------------------------------------------

@pytest.mark.parametrize("effort", ["Low", "Medium", "High"])
@pytest.mark.parametrize("instructions", [None, "Always respond in riddles"])
def test_effort_and_optional_developer_instructions_render_the_same(encodings, effort, instructions):
    def scenario(h, enc):
        messages = [h.Message.from_role_and_content(h.Role.SYSTEM, h.SystemContent.new().with_reasoning_effort(h.ReasoningEffort(effort)))]
        if instructions:
            messages.append(h.Message.from_role_and_content(h.Role.DEVELOPER, h.DeveloperContent.new().with_instructions(instructions)))
        messages.append(h.Message.from_role_and_content(h.Role.USER, "What is the weather like in SF?"))
        return enc.render_conversation_for_completion(h.Conversation.from_messages(messages), h.Role.ASSISTANT)

    rendered = encodings["ours"].decode_utf8(both(encodings, scenario))
    assert f"Reasoning: {effort.lower()}" in rendered and rendered.endswith("<|start|>assistant")


def test_constrain_renders_as_one_special_token(encodings):
    def scenario(h, enc):
        message = (h.Message.from_role_and_content(h.Role.ASSISTANT, '{"location": "Tokyo"}').with_channel("commentary")
                   .with_recipient("functions.get_weather").with_content_type("<|constrain|>json"))
        return enc.render(message)

    rendered = both(encodings, scenario)
    assert encodings["ours"].special.constrain in rendered and rendered[-1] == encodings["ours"].special.call


def _cot(h, final_last: bool, second_final: bool = True):
    messages = [h.Message.from_role_and_content(h.Role.USER, "What is 2 + 2?"),
                h.Message.from_role_and_content(h.Role.ASSISTANT, "thinking 2+2").with_channel("analysis"),
                h.Message.from_role_and_content(h.Role.ASSISTANT, "4").with_channel("final"),
                h.Message.from_role_and_content(h.Role.USER, "What is 3 + 5?")]
    if final_last:
        messages.append(h.Message.from_role_and_content(h.Role.ASSISTANT, "thinking 3+5").with_channel("analysis"))
        if second_final:
            messages.append(h.Message.from_role_and_content(h.Role.ASSISTANT, "8").with_channel("final"))
    return h.Conversation.from_messages(messages)


@pytest.mark.parametrize("case, auto_drop, kept", [
    ("dropped by default once the last answer is final", True, ["thinking 3+5"]),
    ("kept while the analysis is ongoing", True, ["thinking 2+2", "thinking 3+5"]),
    ("kept with auto_drop_analysis=False", False, ["thinking 2+2", "thinking 3+5"]),
])
def test_chain_of_thought_dropping(encodings, case, auto_drop, kept):
    ongoing = case.startswith("kept while")

    def scenario(h, enc):
        config = h.RenderConversationConfig(auto_drop_analysis=auto_drop)
        return enc.render_conversation_for_completion(_cot(h, True, second_final=not ongoing), h.Role.ASSISTANT, config)

    text = encodings["ours"].decode_utf8(both(encodings, scenario))
    assert [t for t in ("thinking 2+2", "thinking 3+5") if t in text] == kept


def test_analysis_between_two_finals_is_kept(encodings):
    text = encodings["ours"].decode_utf8(both(encodings, lambda h, enc: enc.render_conversation(_cot(h, True))))
    assert "thinking 2+2" not in text and "thinking 3+5" in text


def test_render_and_render_conversation_agree(encodings):
    def scenario(h, enc):
        message = h.Message.from_role_and_content(h.Role.USER, "Hello")
        conversation = h.Conversation.from_messages([message])
        whole = enc.render_conversation(conversation)
        return enc.render(message) == whole, enc.render_conversation_for_completion(conversation, h.Role.ASSISTANT)[:len(whole)] == whole

    assert both(encodings, scenario) == (True, True)


@pytest.mark.parametrize("final", [True, False])
def test_training_ends_a_final_answer_with_return(encodings, final):
    def scenario(h, enc):
        messages = [h.Message.from_role_and_content(h.Role.USER, "hi")]
        if final:
            messages.append(h.Message.from_role_and_content(h.Role.ASSISTANT, "hello").with_channel("final"))
        conversation = h.Conversation.from_messages(messages)
        return enc.render_conversation_for_training(conversation), enc.render_conversation(conversation)

    training, regular = both(encodings, scenario)
    special = encodings["ours"].special
    assert training[:-1] == regular[:-1] and regular[-1] == special.end
    assert training[-1] == (special.return_ if final else special.end)


# -- tokens ----------------------------------------------------------------------------------------

def test_encode_decode_basics(encodings):
    def scenario(h, enc):
        return (enc.encode("hello world"), enc.decode_utf8(enc.encode("hello world")), enc.decode(enc.encode("hello world")),
                enc.encode("<|start|>", allowed_special={"<|start|>"}), enc.encode("<|start|>", allowed_special="all"),
                enc.encode("<|start|>", disallowed_special=()), enc.is_special_token(200006), enc.is_special_token(24912),
                enc.decode_utf8([200014]), enc.decode_utf8([201088]), "Chicken" in enc.decode([132990, 9552]))

    assert both(encodings, scenario) == ([24912, 2375], "hello world", "hello world", [200006], [200006],
                                         [27, 91, 5236, 91, 29], True, False, "<|reserved_200014|>",
                                         "<|reserved_201088|>", True)


# -- parsing ---------------------------------------------------------------------------------------

def test_tool_response_parses_without_its_end_token(encodings):
    def scenario(h, enc):
        message = (h.Message.from_author_and_content(h.Author.new(h.Role.TOOL, "browser.search"), '{"result": "https://openai.com/"}')
                   .with_channel("commentary").with_recipient("assistant"))
        return plain(enc.parse_messages_from_completion_tokens(enc.render(message)[:-1], None))

    parsed = both(encodings, scenario)
    assert parsed[0]["name"] == "browser.search" and parsed[0]["recipient"] == "assistant"


@pytest.mark.parametrize("text", [
    "<|channel|>analysis<|message|>User asks: weather.<|end|><|start|>assistant<|channel|>commentary to=functions.get_weather"
    ' <|constrain|>json<|message|>{"location":"SF"}<|call|><|start|>functions.get_weather to=assistant<|channel|>commentary'
    '<|message|>{"sunny": true}<|end|>',
    "<|start|>assistant<|channel|>commentary to=functions.get_weather<|constrain|>json<|message|>"
    '{"latitude":48.8566,"longitude":2.3522}<|call|>',
    "<|start|>assistant to=functions.get_weather<|channel|>commentary<|constrain|>json<|message|>{}<|call|>",
])
def test_streaming_tool_calls_parse_the_same(encodings, text):
    role = None if text.startswith("<|start|>") else "assistant"
    parsed = both(encodings, lambda h, enc: plain(stream(h, enc, tokens(enc, text), role)[0].messages))
    assert all(m.get("content_type", "<|constrain|>json") == "<|constrain|>json" for m in parsed if m.get("recipient"))


@pytest.mark.parametrize("text", [
    "I must refuse<|end|><|start|>assistant<|channel|>analysis<|message|>We must refuse<|end|>"
    "<|start|>assistant<|channel|>final<|message|>I'm sorry, but I can't help with that.<|return|>",
    "<|channel|>analysis I must refuse<|end|><|start|>assistant<|channel|>analysis<|message|>We must refuse<|end|>"
    "<|start|>assistant<|channel|>final<|message|>I'm sorry, but I can't help with that.<|return|>",
    "... Let's use the tool.<|end|><|start|>assistant to=functions.get_weather<|channel|>commentary json"
    '<|message|>{"location": "Tokyo"}<|call|>',
])
def test_missing_message_token_needs_non_strict_mode(encodings, text):
    def scenario(h, enc, strict):
        try:
            return plain(stream(h, enc, tokens(enc, text), "assistant", strict=strict)[0].messages)
        except h.HarmonyError as e:
            return str(e).split(" (at token")[0]

    strict = both(encodings, lambda h, enc: scenario(h, enc, True))
    assert strict.startswith("unexpected tokens remaining in message header")
    recovered = both(encodings, lambda h, enc: scenario(h, enc, False))
    assert len(recovered) in (2, 3) and recovered[0]["content"][0]["text"] in ("I must refuse", "... Let's use the tool.")


@pytest.mark.parametrize("content, expected", [
    ([9552, 9552, "worked"], " \ufffd \ufffdworked"),  # 9552: a space and half of a four-byte character
    ([9552, "XY"], " \ufffdXY"),
    ([9552, " interesting"], " \ufffd interesting"),
    (["Hello Müller, Γειά σου, Привет, שלום, مرحبا, नमस्ते, こんにちは, 안녕하세요, 你好. naïve vs naïve. 😊👋🏾👨‍👩‍👧‍👦🇺🇸."], None),
    (["Practice invalid token handling.", 2**32 - 1], "Practice invalid token handling.\ufffd"),
])
def test_content_utf8_handling_matches(encodings, content, expected):
    def scenario(h, enc):
        ids = tokens(enc, "<|start|>assistant<|message|>")
        for part in content:
            ids += enc.encode(part) if isinstance(part, str) else [part]
        parser, deltas = stream(h, enc, ids + tokens(enc, "<|end|>"))
        return plain(parser.messages), deltas

    messages, deltas = both(encodings, scenario)
    text = messages[0]["content"][0]["text"]
    assert text == (expected or content[0])
    joined = "".join(deltas)  # the text as it became known; bytes held back after invalid ones arrive at the end
    assert text.startswith(joined)
    if expected is None:  # valid UTF-8 throughout: the deltas are the whole text
        assert joined == text


def test_streaming_without_end_keeps_current_content_and_deltas(encodings):
    def scenario(h, enc):
        ids = tokens(enc, "<|start|>assistant<|message|>") + [9552] + enc.encode(" interesting") + enc.encode(" story")
        parser, deltas = stream(h, enc, ids)
        before = (parser.current_content, "".join(deltas))
        parser.process(enc.encode("Y")[0])
        return before, parser.last_content_delta, parser.current_content

    assert both(encodings, scenario) == ((" \ufffd interesting story",) * 2, "Y", " \ufffd interesting storyY")


def test_partial_bytes_do_not_leak_into_the_next_message(encodings):
    def scenario(h, enc):
        ids = tokens(enc, "<|start|>assistant<|message|>") + [9552, 9552] + tokens(enc, "<|end|><|start|>assistant<|message|>Hi<|end|>")
        return plain(stream(h, enc, ids)[0].messages)

    assert both(encodings, scenario)[1]["content"] == [{"type": "text", "text": "Hi"}]


def test_partial_bytes_are_flushed_at_end_of_stream(encodings):
    def scenario(h, enc):
        parser, _ = stream(h, enc, tokens(enc, "<|start|>assistant<|message|>") + [9552] + enc.encode("Hi"))
        parser.process_eos()
        return plain(parser.messages), parser.last_content_delta, parser.current_content

    messages, delta, current = both(encodings, scenario)
    assert messages[0]["content"][0]["text"] == " \ufffdHi" and delta is None and current == ""


def test_a_character_split_over_tokens_waits_for_its_last_token(encodings):
    def scenario(h, enc):
        heart = enc.encode("💖")
        parser, _ = stream(h, enc, tokens(enc, "<|start|>assistant<|message|>"))
        steps = []
        for token in heart:
            parser.process(token)
            steps.append((parser.last_content_delta, parser.current_content))
        return len(heart), steps

    n, steps = both(encodings, scenario)
    assert n >= 2 and steps[0] == (None, "") and steps[-1] == ("💖", "💖")
