"""The agent loop's budgets: tool answers cut to a token budget, no unbounded echo, bounded JSON, linear regexes."""
from __future__ import annotations

import json
import time

import pytest

from gptoss_edu.agent import (
    AgentLoop,
    Browser,
    Corpus,
    Document,
    FunctionTools,
    PythonSandbox,
    RecordedCompletions,
    SandboxLimits,
    ToolCallError,
    build_conversation,
)
from gptoss_edu.agent.browser import document_page
from gptoss_edu.agent.loop import truncate_to_tokens
from gptoss_edu.agent.sandbox_backends import Bubblewrap
from gptoss_edu.agent.validate import decode_arguments
from gptoss_edu.harmony import HarmonyEncodingName, load_harmony_encoding

BUDGET = 300


@pytest.fixture(scope="module")
def encoding():
    return load_harmony_encoding(HarmonyEncodingName.HARMONY_GPT_OSS)


def huge_result() -> str:
    """Return a 20 MB result."""
    return "all work and no play " * 1_000_000


def call(recipient: str, payload: str) -> str:
    constrain = " <|constrain|>json" if recipient.startswith(("functions", "browser")) else ""
    return f"<|channel|>commentary to={recipient}{constrain}<|message|>{payload}<|call|>"


def answers(tools, calls, encoding, max_tool_tokens=BUDGET):
    """Run a recorded loop making ``calls``; return each tool answer and the longest prompt the model was shown."""
    model = RecordedCompletions([*calls, "<|channel|>final<|message|>done<|return|>"], encoding)
    result = AgentLoop(model, tools, encoding, max_steps=len(calls) + 1, max_tool_tokens=max_tool_tokens).run(
        build_conversation("go", tools))
    texts = [step.tool_messages[0].text() for step in result.steps if step.tool_messages]
    return texts, max(len(prompt) for prompt in model.prompts), model.prompts[0]


def test_a_20_megabyte_function_result_stays_within_the_budget(encoding):
    tools = [FunctionTools([huge_result])]
    [text], longest, first = answers(tools, [call("functions.huge_result", "{}")], encoding)
    assert text.startswith("all work and no play") and "[... tool output truncated to 300 tokens:" in text
    assert len(encoding.encode(text, disallowed_special=())) <= BUDGET + 40
    assert longest - len(first) < BUDGET + 100  # the next prompt grew by the budget, not by 5 million tokens


def test_browser_answers_are_truncated_and_do_not_echo_unbounded_input(encoding):
    long_line = "word " * 200_000
    browser = Browser(Corpus([Document("big.md", "Big", f"# Big\n\n{long_line}\n")]))
    texts, _, _ = answers([browser], [
        call("browser.open", '{"id": "big.md", "num_lines": 100000}'),
        call("browser.search", '{"query": "' + "q" * 100_000 + '"}'),
        call("browser.search", '{"query": "' + "word " * 300 + '"}'),
        call("browser.find", '{"pattern": "' + "x" * 1500 + '"}'),
    ], encoding)
    assert "tool output truncated to 300 tokens" in texts[0]
    assert texts[1].startswith("Error:") and "too long" in texts[1] and len(texts[1]) < 300
    for text in texts[2:]:
        assert len(encoding.encode(text, disallowed_special=())) <= BUDGET + 40 and "…" in text


@pytest.mark.skipif(Bubblewrap().unavailable_reason() is not None, reason="bubblewrap is not available")
def test_the_browser_refuses_megabyte_arguments_in_a_few_words():
    browser = Browser(Corpus([]))
    for payload, message in ((json.dumps({"query": "q" * 1_000_000}), "too long: 1000013 characters"),
                             (json.dumps({"query": "q" * 60_000}), "query is 60000 characters long")):
        with pytest.raises(ToolCallError, match=message) as error:
            browser("search", payload)
        assert len(str(error.value)) < 200


def test_python_answers_are_truncated(encoding):
    sandbox = PythonSandbox(SandboxLimits(timeout_s=5, output_chars=1_000_000))
    [text], _, _ = answers([sandbox], [call("python", "print('x' * 500_000)")], encoding)
    assert "tool output truncated to 300 tokens" in text and len(text) < 20 * BUDGET


def test_truncation_marks_what_it_cut(encoding):
    assert truncate_to_tokens("short answer", 10, encoding) == "short answer"
    cut = truncate_to_tokens("日本語のテキスト " * 1000, 50, encoding)
    assert "truncated to 50 tokens" in cut and "\ufffd" not in cut
    assert truncate_to_tokens("<|end|> is plain text here", 10, encoding) == "<|end|> is plain text here"


@pytest.mark.parametrize("payload, message", [
    ("[" * 100_000, "too long"),
    ("[" * 1000 + "]" * 1000, "nested too deeply: 1000 levels"),
    ('{"location": ' + "[" * 40 + "]" * 40 + "}", "nested too deeply: 41 levels"),
    ('{"location": "Paris",}', "not valid JSON"),
])
def test_hostile_argument_json_gets_a_clear_error_back(encoding, payload, message):
    def get_weather(location: str) -> str:
        """Weather in a city.

        Args:
            location: The city.
        """
        return "sunny"

    for recipient, tools in (("functions.get_weather", [FunctionTools([get_weather])]),
                             ("browser.search", [Browser(Corpus([]))])):
        [text], _, _ = answers(tools, [call(recipient, payload)], encoding)
        assert text.startswith("Error:") and message in text and "RecursionError" not in text


def test_depth_counting_ignores_brackets_inside_strings():
    assert decode_arguments('{"query": "[[[[' + "[" * 100 + '"}') == {"query": "[[[[" + "[" * 100}
    assert decode_arguments('{"q": "a \\" [[["}') == {"q": 'a " [[['}
    assert decode_arguments("  ") == {}


def _seconds(text: str) -> float:
    """Best of five: turning ``text`` into a browser page."""
    document = Document("hostile.md", "Hostile", text)
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        document_page(document)
        best = min(best, time.perf_counter() - started)
    return best


@pytest.mark.parametrize("unit", ["[", "[a", "[a](", "[a](b", "](" + "x" * 10, "【1†L"])
def test_link_parsing_is_linear_on_hostile_documents(unit):
    """Four times the text must cost about four times the time (a quadratic pattern would cost sixteen)."""
    small, large = unit * 4000, unit * 16000
    assert _seconds(large) < 8 * _seconds(small) + 0.002


def test_links_are_still_found():
    page = document_page(Document("a.md", "A", "See [the guide](guide.md) and [[nested](x.md)] and [a](b c)."))
    assert [link.url for link in page.links] == ["guide.md", "x.md"]
    assert "【0†the guide】" in page.lines[0] and "[【1†nested】]" in page.lines[0]
