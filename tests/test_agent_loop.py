"""The agent loop on recorded completions: dispatch, tool messages, recovery from bad calls, history,
streaming events, and conformance: every prompt and the final conversation render as openai-harmony does."""
from __future__ import annotations

import dataclasses
import io
import json

import pytest

import gptoss_edu.harmony as ours
from gptoss_edu.agent.browser import Browser, parse_citations
from gptoss_edu.agent.corpus import Corpus, Document
from gptoss_edu.agent.functions import FunctionTools
from gptoss_edu.agent.loop import (
    AgentLoop,
    ChannelPrinter,
    RecordedCompletions,
    build_conversation,
    drop_analysis_before_final,
    tool_message,
)
from gptoss_edu.agent.sandbox import PythonSandbox, SandboxLimits

theirs = pytest.importorskip("openai_harmony")

A = "<|start|>assistant"


def get_weather(location: str, unit: str = "celsius") -> dict:
    """Get the current weather.

    Args:
        location: City name.
        unit: celsius or fahrenheit.
    """
    return {"location": location, "temperature": 21, "unit": unit}


def call(recipient: str, payload: str, channel: str = "commentary", json_type: bool = True) -> str:
    constrain = " <|constrain|>json" if json_type else ""
    return f"<|channel|>{channel} to={recipient}{constrain}<|message|>{payload}<|call|>"


def think(text: str) -> str:
    return f"<|channel|>analysis<|message|>{text}<|end|>{A}"


def final(text: str) -> str:
    return f"<|channel|>final<|message|>{text}<|return|>"


@pytest.fixture(scope="module")
def encoding():
    return ours.load_harmony_encoding(ours.HarmonyEncodingName.HARMONY_GPT_OSS)


@pytest.fixture(scope="module")
def reference_encoding():
    return theirs.load_harmony_encoding(theirs.HarmonyEncodingName.HARMONY_GPT_OSS)


@pytest.fixture()
def tools():
    corpus = Corpus([Document("facts.md", "Facts", "# Facts\n\nThe sliding window is 128 tokens.\nThere are 32 experts.")])
    return [FunctionTools([get_weather]), PythonSandbox(SandboxLimits(timeout_s=5)), Browser(corpus)]


def to_reference(conversation) -> theirs.Conversation:
    """The same conversation in openai_harmony's types (field by field, enums by value)."""
    def plain(content) -> dict:
        return json.loads(json.dumps(dataclasses.asdict(content), default=lambda value: value.value))

    kinds = {ours.TextContent: theirs.TextContent, ours.SystemContent: theirs.SystemContent,
             ours.DeveloperContent: theirs.DeveloperContent}
    messages = [theirs.Message(author=theirs.Author(role=theirs.Role(message.author.role.value), name=message.author.name),
                               content=[kinds[type(content)](**plain(content)) for content in message.content],
                               channel=message.channel, recipient=message.recipient, content_type=message.content_type)
                for message in conversation.messages]
    return theirs.Conversation.from_messages(messages)


def run(script, tools, user="What's the weather in Paris?", **kwargs):
    model = RecordedCompletions(script)
    events = []
    loop = AgentLoop(model, tools, on_event=events.append, **kwargs)
    result = loop.run(build_conversation(user, tools, instructions="Answer briefly."))
    return result, model, events


def full_history(result, user_conversation):
    messages = list(user_conversation.messages)
    for step in result.steps:
        messages += step.messages + step.tool_messages
    return ours.Conversation.from_messages(messages)


def test_weather_call_python_and_browser_then_final(tools):
    script = [
        think("Need weather.") + call("functions.get_weather", '{"location": "Paris"}'),
        think("Convert to F.") + call("python", "21 * 9 / 5 + 32", channel="analysis", json_type=False),
        call("browser.search", '{"query": "sliding window"}', channel="analysis"),
        call("browser.open", '{"id": 0}', channel="analysis"),
        think("Done.") + final("21 °C (69.8 °F). The window is 128 tokens 【1†L2】."),
    ]
    result, model, _ = run(script, tools)
    assert result.stop_reason == "final answer" and result.final.startswith("21 °C")
    answers = [step.tool_messages[0] for step in result.steps[:4]]
    assert json.loads(answers[0].text()) == {"location": "Paris", "temperature": 21, "unit": "celsius"}
    assert answers[1].text() == "69.8"
    assert "【0†Facts†facts.md】" in answers[2].text()
    assert "L2: The sliding window is 128 tokens." in answers[3].text()
    [citation] = parse_citations(result.final)
    assert tools[2].quote(citation) == "The sliding window is 128 tokens."
    assert len(model.prompts) == 5


def test_tool_messages_have_the_author_recipient_and_channel_harmony_expects(tools):
    script = [call("functions.get_weather", '{"location": "Oslo"}'),
              call("python", "1 + 1", channel="analysis", json_type=False), final("ok")]
    result, _, _ = run(script, tools)
    weather, python = result.steps[0].tool_messages[0], result.steps[1].tool_messages[0]
    assert (weather.author.role, weather.author.name, weather.recipient, weather.channel) == (
        ours.Role.TOOL, "functions.get_weather", "assistant", "commentary")
    assert (python.author.name, python.recipient, python.channel) == ("python", "assistant", "analysis")


def test_every_prompt_and_the_history_render_as_openai_harmony_does(tools, encoding, reference_encoding):
    script = [
        think("Need weather.") + call("functions.get_weather", '{"location": "Paris"}'),
        call("python", "print(2 ** 10)", channel="analysis", json_type=False),
        think("Answer.") + final("It is 21 °C."),
    ]
    result, model, _ = run(script, tools)
    start = build_conversation("What's the weather in Paris?", tools, instructions="Answer briefly.")
    history = full_history(result, start)
    for step, prompt in enumerate(model.prompts):
        shown = ours.Conversation.from_messages(
            history.messages[:len(start.messages) + sum(len(s.messages) + len(s.tool_messages) for s in result.steps[:step])])
        want = reference_encoding.render_conversation_for_completion(to_reference(shown), theirs.Role.ASSISTANT)
        assert prompt == want, f"prompt of step {step} differs from openai-harmony's rendering"
    kept = reference_encoding.render_conversation(to_reference(result.conversation),
                                                  theirs.RenderConversationConfig(auto_drop_analysis=False))
    assert kept == reference_encoding.render_conversation(to_reference(history))
    assert encoding.render_conversation(result.conversation) == reference_encoding.render_conversation(
        to_reference(result.conversation))
    assert all(message.channel != "analysis" for message in result.conversation.messages)


@pytest.mark.parametrize(("bad_call", "error"), [
    (call("functions.get_wether", '{"location": "Paris"}'), "Error: unknown function functions.get_wether"),
    (call("functions.get_weather", '{"location": Paris}'), "Error: arguments to functions.get_weather are not valid JSON"),
    (call("functions.get_weather", '{"city": "Paris"}'), "Error: invalid arguments for functions.get_weather: "
                                                         "location: missing required argument (string); city: unexpected"),
    (call("functions.get_weather", '{"location": 75001}'), "Error: invalid arguments for functions.get_weather: "
                                                           "location: expected string, got integer"),
    (call("calculator.add", '{"a": 1}'), "Error: there is no tool 'calculator.add'; available tools: browser, "
                                         "functions, python"),
    (call("browser.open", '{"id": 4}', channel="analysis"), "Error: no page is open yet"),
])
def test_bad_calls_go_back_to_the_model_and_the_loop_recovers(tools, bad_call, error):
    script = [bad_call, call("functions.get_weather", '{"location": "Paris"}'), final("21 °C.")]
    result, model, _ = run(script, tools)
    assert result.steps[0].tool_messages[0].text().startswith(error)
    assert result.stop_reason == "final answer" and result.final == "21 °C."
    assert "Error:" in ours.load_harmony_encoding(ours.HarmonyEncodingName.HARMONY_GPT_OSS).decode(model.prompts[1])


def test_a_tool_that_crashes_is_reported_not_raised(tools):
    class Broken:
        namespace = "broken"

        def __call__(self, name, payload):
            raise KeyError(name)

        def add_to_prompt(self, system, developer):
            pass

    result, _, _ = run([call("broken.thing", "{}"), final("sorry")], tools + [Broken()])
    assert result.steps[0].tool_messages[0].text() == "Error: broken.thing failed with KeyError: 'thing'"


def test_step_limit_stops_a_model_that_never_answers(tools):
    script = [call("python", "1", channel="analysis", json_type=False)] * 3
    result, _, _ = run(script, tools, max_steps=3)
    assert result.stop_reason == "step limit (3) reached" and result.final is None and len(result.steps) == 3


def test_unparseable_completion_ends_the_loop_with_a_reason(tools):
    result, _, _ = run(["<|channel|>final<|message|>x<|end|>oops"], tools)
    assert result.stop_reason.startswith("unparseable completion: ") and "oops" in result.stop_reason
    assert result.final is None and [message.text() for message in result.steps[0].messages] == ["x"]


def test_completion_without_stop_token_is_flushed_and_the_loop_continues(tools):
    result, _, _ = run(["<|channel|>analysis<|message|>thinking...", final("done")], tools)
    assert result.steps[0].messages[0].text() == "thinking..." and result.final == "done"


def test_streaming_events_keep_channels_apart(tools):
    script = [think("Let me check.") + call("functions.get_weather", '{"location": "Rome"}'), final("Sunny.")]
    _, _, events = run(script, tools)
    deltas = {}
    for event in events:
        if event.kind == "delta":
            key = (event.step, event.channel, event.recipient)
            deltas[key] = deltas.get(key, "") + event.text
    assert deltas == {(0, "analysis", None): "Let me check.",
                      (0, "commentary", "functions.get_weather"): '{"location": "Rome"}',
                      (1, "final", None): "Sunny."}
    kinds = [event.kind for event in events if event.kind != "delta"]
    assert kinds == ["message", "message", "tool_result", "message", "stop"]


def test_recorded_completions_refuse_to_invent_more(encoding):
    model = RecordedCompletions([final("one")], encoding)
    assert model([1, 2], []) == encoding.encode(final("one"), allowed_special="all")
    with pytest.raises(RuntimeError, match="holds 1 completions and all were used"):
        model([1, 2], [])
    assert "not model output" in RecordedCompletions.label


def test_drop_analysis_matches_harmonys_auto_drop_for_a_finished_turn(reference_encoding):
    user = ours.Message.from_role_and_content(ours.Role.USER, "hi")
    thought = ours.Message.from_role_and_content(ours.Role.ASSISTANT, "hmm").with_channel("analysis")
    python_call = (ours.Message.from_role_and_content(ours.Role.ASSISTANT, "1+1")
                   .with_channel("analysis").with_recipient("python"))
    answer = ours.Message.from_role_and_content(ours.Role.ASSISTANT, "2").with_channel("final")
    messages = [user, thought, python_call, tool_message(python_call, "2"), answer]
    kept = drop_analysis_before_final(messages)
    assert kept == [user, answer]
    auto = reference_encoding.render_conversation(to_reference(ours.Conversation.from_messages(messages)))
    manual = reference_encoding.render_conversation(to_reference(ours.Conversation.from_messages(kept)),
                                                    theirs.RenderConversationConfig(auto_drop_analysis=False))
    assert auto == manual


def test_drop_analysis_forgets_every_finished_turn_but_keeps_the_current_one():
    user = ours.Message.from_role_and_content(ours.Role.USER, "hi")
    thought = ours.Message.from_role_and_content(ours.Role.ASSISTANT, "hmm").with_channel("analysis")
    answer = ours.Message.from_role_and_content(ours.Role.ASSISTANT, "2").with_channel("final")
    assert drop_analysis_before_final([user, thought, answer, user, thought, answer]) == [user, answer, user, answer]
    assert drop_analysis_before_final([user, thought, answer, user, thought]) == [user, answer, user, thought]


def test_build_conversation_declares_each_tool_where_harmony_expects(tools, reference_encoding):
    conversation = build_conversation("hi", tools, instructions="Be brief.")
    system, developer = conversation.messages[0].content[0], conversation.messages[1].content[0]
    assert sorted(system.tools) == ["browser", "python"] and list(developer.tools) == ["functions"]
    assert system.tools["browser"] == ours.ToolNamespaceConfig.browser()
    assert [message.author.role for message in build_conversation("hi").messages] == [ours.Role.SYSTEM, ours.Role.USER]
    text = reference_encoding.decode(reference_encoding.render_conversation(to_reference(conversation)))
    assert "namespace functions {" in text and "## python" in text and "namespace browser {" in text


@pytest.mark.slow
def test_transformer_completions_drive_a_random_model_without_crashing():
    """A tiny random model emits arbitrary tokens; the loop must end with a reason, never an exception."""
    torch = pytest.importorskip("torch")
    from gptoss_edu.agent.loop import TransformerCompletions
    from gptoss_edu.config import TINY
    from gptoss_edu.model.transformer import Transformer

    torch.manual_seed(0)
    model = Transformer(dataclasses.replace(TINY, rope_scaling_factor=1.0, initial_context_length=4096))  # plain RoPE: the loop is under test
    result = AgentLoop(TransformerCompletions(model, max_new_tokens=8), max_steps=2).run(build_conversation("hi"))
    assert result.stop_reason and len(result.steps) >= 1
    assert all(step.completion_tokens <= 8 for step in result.steps)



def test_channel_printer_shows_analysis_calls_results_and_answer_apart(tools):
    printer = ChannelPrinter(io.StringIO())
    script = [think("Check.") + call("functions.get_weather", '{"location": "Rome"}'), final("Sunny.")]
    AgentLoop(RecordedCompletions(script), tools, on_event=printer).run(build_conversation("Rome?", tools))
    assert printer.transcript == (
        "-- step 0 --\n[analysis] Check.\n[commentary to=functions.get_weather] {\"location\": \"Rome\"}\n"
        "[functions.get_weather to=assistant] {\"location\": \"Rome\", \"temperature\": 21, \"unit\": \"celsius\"}\n"
        "-- step 1 --\n[final] Sunny.\n[stop] final answer\n")
    assert printer.stream.getvalue() == printer.transcript
