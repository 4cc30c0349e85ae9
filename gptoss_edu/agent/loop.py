"""The harmony agent loop: render, generate, parse, dispatch tool calls, repeat.

One step of :meth:`AgentLoop.run`:

1. render the conversation for completion by the assistant
   (``render_conversation_for_completion(conversation, Role.ASSISTANT)``);
2. let the model produce tokens until a stop token of
   ``stop_tokens_for_assistant_actions()`` (``<|call|>`` or ``<|return|>``);
3. feed them to a ``StreamableParser``, reporting deltas per channel as they arrive;
4. append the parsed assistant messages; if the last one has a recipient
   (``functions.NAME`` on the commentary channel, ``python``, ``browser.search`` ...),
   run that tool and append its answer as a tool message authored by the recipient,
   addressed ``to=assistant`` on the call's channel, then go to 1; if it is on the
   ``final`` channel, stop.

Bad calls (unknown tool, invalid JSON, arguments that break the schema, a tool that
raises) come back to the model as tool messages that start with ``Error:``, so it can
try again; the step limit bounds the retries. Every tool answer, error or not, is cut to
``max_tool_tokens`` tokens (:func:`truncate_to_tokens`, with a marker saying so) before it
enters the prompt: a tool returning 20 MB must not become a 3-million-token prompt. When the final answer arrives, the
turn's analysis messages are dropped from the history, as harmony drops chain of
thought once a final answer follows it.

The "model" is any :class:`CompletionModel`: :class:`TransformerCompletions` wraps a
real :class:`gptoss_edu.model.transformer.Transformer` with :func:`gptoss_edu.model.generation.generate`;
:class:`RecordedCompletions` replays scripted text and is labelled as such.
"""
from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TextIO

from gptoss_edu.agent.functions import ToolCallError
from gptoss_edu.harmony import (
    Author,
    Conversation,
    DeveloperContent,
    HarmonyEncodingName,
    HarmonyError,
    Message,
    Role,
    StreamableParser,
    SystemContent,
    load_harmony_encoding,
)


class CompletionModel(Protocol):
    """Anything that continues a prompt: ``model(prompt_ids, stop_tokens) -> token ids``."""

    def __call__(self, prompt_ids: list[int], stop_tokens: Sequence[int]) -> Iterable[int]: ...


class Tool(Protocol):
    """A tool namespace: answers ``tool(function name, payload) -> text`` and declares itself in the prompt."""

    namespace: str

    def __call__(self, name: str, payload: str) -> str: ...

    def add_to_prompt(self, system: SystemContent, developer: DeveloperContent) -> None: ...


class RecordedCompletions:
    """RECORDED, NOT GENERATED: replays scripted completion texts, one per call, as token ids.

    Use it to show and test the loop's mechanics where no trained model is available (a
    tiny random model never calls tools). Each text is what the assistant would write
    after ``<|start|>assistant``, e.g. ``<|channel|>analysis<|message|>...<|end|>...<|call|>``.
    ``prompts`` keeps every prompt it was shown.
    """

    label = "recorded completions (scripted text, not model output)"

    def __init__(self, completions: Sequence[str], encoding: Any = None):
        self.completions = list(completions)
        self.encoding = encoding or load_harmony_encoding(HarmonyEncodingName.HARMONY_GPT_OSS)
        self.prompts: list[list[int]] = []

    def __call__(self, prompt_ids: list[int], stop_tokens: Sequence[int]) -> list[int]:
        if len(self.prompts) >= len(self.completions):
            raise RuntimeError(f"the recording holds {len(self.completions)} completions and all were used")
        self.prompts.append(list(prompt_ids))
        return self.encoding.encode(self.completions[len(self.prompts) - 1], allowed_special="all")


class TransformerCompletions:
    """A real model: samples with :func:`gptoss_edu.model.generation.generate` until a stop token."""

    label = "model output"

    def __init__(self, model: Any, max_new_tokens: int = 512, temperature: float = 0.0, top_p: float = 1.0,
                 seed: int | None = None):
        self.model, self.max_new_tokens = model, max_new_tokens
        self.temperature, self.top_p, self.seed = temperature, top_p, seed

    def __call__(self, prompt_ids: list[int], stop_tokens: Sequence[int]) -> Iterable[int]:
        from gptoss_edu.model.generation import generate  # torch only when a real model is driven

        return generate(self.model, prompt_ids, self.max_new_tokens, temperature=self.temperature, top_p=self.top_p,
                        stop_tokens=list(stop_tokens), seed=self.seed)


@dataclass(frozen=True)
class LoopEvent:
    """Something the loop reports while it runs.

    ``kind`` is ``"delta"`` (streamed text of an assistant message), ``"message"`` (a
    finished assistant message), ``"tool_result"`` (a tool's answer) or ``"stop"``
    (the loop ended; ``text`` says why).
    """

    kind: str
    step: int
    channel: str | None = None
    recipient: str | None = None
    text: str = ""


class ChannelPrinter:
    """A streaming callback that prints each message as it arrives, labelled by channel and recipient.

    Output looks like ``[analysis] ...``, ``[commentary to=functions.get_weather] {...}``,
    ``[functions.get_weather to=assistant] ...`` (a tool's answer), ``[final] ...``, ``[stop] ...``,
    with a ``-- step N --`` rule before each model call. ``transcript`` keeps everything printed.
    """

    def __init__(self, stream: TextIO | None = None):
        self.stream = stream or sys.stdout
        self.transcript = ""
        self._open = False
        self._step = -1

    def __call__(self, event: LoopEvent) -> None:
        if event.step != self._step and event.kind in ("delta", "message"):
            self._step = event.step
            self._write(f"-- step {event.step} --\n")
        if event.kind == "delta":
            if not self._open:
                self._write(f"[{_label(event.channel, event.recipient)}] ")
                self._open = True
            self._write(event.text)
        elif event.kind == "message":
            self._write("\n" if self._open else f"[{_label(event.channel, event.recipient)}] {event.text}\n")
            self._open = False
        elif event.kind == "tool_result":
            self._write(f"[{event.recipient} to=assistant] {event.text}\n")
        else:
            self._write(f"[{event.kind}] {event.text}\n")

    def _write(self, text: str) -> None:
        self.transcript += text
        self.stream.write(text)


def _label(channel: str | None, recipient: str | None) -> str:
    """``analysis``, or ``commentary to=functions.f`` for a call."""
    return f"{channel or 'no channel'}" + (f" to={recipient}" if recipient else "")


@dataclass
class StepRecord:
    """One model call: how long the prompt was, what came back, what the tools answered."""

    step: int
    prompt_tokens: int
    completion_tokens: int
    messages: list[Message]
    tool_messages: list[Message] = field(default_factory=list)


@dataclass
class AgentResult:
    """The finished conversation (as harmony keeps it), the steps taken and why the loop stopped."""

    conversation: Conversation
    steps: list[StepRecord]
    stop_reason: str
    final: str | None


_CHARS_PER_TOKEN_BOUND = 16  # characters looked at per token of budget: the text is never tokenized whole


def truncate_to_tokens(text: str, budget: int, encoding: Any) -> str:
    """``text`` if it fits in ``budget`` tokens, else its first ``budget`` tokens and a marker saying what was cut.

    Only the first ``16 * budget`` characters are tokenized, so the cost is bounded by the
    budget, not by the size of the text. Special-token look-alikes in the text count as plain text.
    """
    head = text[:budget * _CHARS_PER_TOKEN_BOUND]
    ids = encoding.encode(head, disallowed_special=())
    if len(ids) <= budget and len(head) == len(text):
        return text
    kept = encoding.decode(ids[:budget]).rstrip("\ufffd") if len(ids) > budget else head
    return f"{kept}\n[... tool output truncated to {budget} tokens: {len(text) - len(kept)} more characters not shown]"


def tool_message(call: Message, text: str) -> Message:
    """The answer to ``call``: authored by the tool it addressed, to the assistant, on the call's channel."""
    answer = Message.from_author_and_content(Author.new(Role.TOOL, call.recipient), text).with_recipient("assistant")
    return answer.with_channel(call.channel) if call.channel else answer


def drop_analysis_before_final(messages: Sequence[Message]) -> list[Message]:
    """Remove every ``analysis``-channel message (tool calls and answers included) before the last final answer.

    For one finished turn this is exactly what harmony's ``auto_drop_analysis`` leaves out when
    rendering. Harmony applies its rule only while the last assistant message is a final answer
    (and only before the first one), so in a later turn it would show earlier turns' chain of
    thought again; dropping it from the stored history makes each finished turn forget it for good.
    """
    finals = [i for i, message in enumerate(messages) if message.author.role == Role.ASSISTANT and message.channel == "final"]
    if not finals:
        return list(messages)
    return [message for i, message in enumerate(messages) if i > finals[-1] or message.channel != "analysis"]


def build_conversation(user: str, tools: Sequence[Tool] = (), instructions: str | None = None,
                       system: SystemContent | None = None) -> Conversation:
    """System message (with built-in tools), developer message (instructions, functions) and the user's message."""
    system = system or SystemContent.new()
    developer = DeveloperContent.new()
    if instructions:
        developer = developer.with_instructions(instructions)
    for tool in tools:
        tool.add_to_prompt(system, developer)
    messages = [Message.from_role_and_content(Role.SYSTEM, system)]
    if instructions or developer.tools:
        messages.append(Message.from_role_and_content(Role.DEVELOPER, developer))
    messages.append(Message.from_role_and_content(Role.USER, user))
    return Conversation.from_messages(messages)


class AgentLoop:
    """Drive ``model`` through tool calls until a final answer or ``max_steps`` model calls.

    ``max_tool_tokens`` bounds each tool answer as it enters the prompt.
    """

    def __init__(self, model: CompletionModel, tools: Sequence[Tool] = (), encoding: Any = None, max_steps: int = 8,
                 on_event: Callable[[LoopEvent], None] | None = None, max_tool_tokens: int = 2048):
        self.model = model
        self.max_tool_tokens = max_tool_tokens
        self.tools = {tool.namespace: tool for tool in tools}
        self.encoding = encoding or load_harmony_encoding(HarmonyEncodingName.HARMONY_GPT_OSS)
        self.max_steps = max_steps
        self.on_event = on_event or (lambda event: None)

    def run(self, conversation: Conversation) -> AgentResult:
        """Continue ``conversation`` (left unchanged) and return the extended one."""
        messages = list(conversation.messages)
        steps: list[StepRecord] = []
        stop_reason, final = f"step limit ({self.max_steps}) reached", None
        for step in range(self.max_steps):
            prompt = self.encoding.render_conversation_for_completion(Conversation.from_messages(messages), Role.ASSISTANT)
            record = StepRecord(step, len(prompt), 0, [])
            steps.append(record)
            problem = self._complete(prompt, record)
            messages += record.messages
            last = record.messages[-1] if record.messages else None
            if problem or last is None:
                stop_reason = problem or "the model produced no message"
                break
            if last.recipient and last.recipient != "assistant":
                record.tool_messages.append(self._dispatch(last, step))
                messages += record.tool_messages
            elif last.channel == "final":
                stop_reason, final = "final answer", last.text()
                messages = drop_analysis_before_final(messages)
                break
        self.on_event(LoopEvent("stop", len(steps) - 1, text=stop_reason))
        return AgentResult(Conversation.from_messages(messages), steps, stop_reason, final)

    def _complete(self, prompt: list[int], record: StepRecord) -> str | None:
        """Stream one completion through the parser into ``record``; return a problem description or None."""
        stop_tokens = set(self.encoding.stop_tokens_for_assistant_actions())
        parser = StreamableParser(self.encoding, Role.ASSISTANT)
        finished = 0
        try:
            for token in self.model(prompt, sorted(stop_tokens)):
                record.completion_tokens += 1
                parser.process(token)
                if parser.last_content_delta:
                    self.on_event(LoopEvent("delta", record.step, parser.current_channel, parser.current_recipient,
                                            parser.last_content_delta))
                finished = self._report_finished(parser, finished, record.step)
                if token in stop_tokens:
                    break
            else:
                parser.process_eos()
        except HarmonyError as error:
            record.messages = parser.messages
            return f"unparseable completion: {error}"
        self._report_finished(parser, finished, record.step)
        record.messages = parser.messages
        return None

    def _report_finished(self, parser: StreamableParser, already: int, step: int) -> int:
        """Emit a ``message`` event for each message the parser completed since ``already``."""
        messages = parser.messages
        for message in messages[already:]:
            self.on_event(LoopEvent("message", step, message.channel, message.recipient, message.text()))
        return len(messages)

    def _dispatch(self, call: Message, step: int) -> Message:
        """Run the tool ``call`` addresses; every failure becomes an ``Error:`` tool message."""
        namespace, _, name = call.recipient.partition(".")
        tool = self.tools.get(namespace)
        if tool is None:
            available = ", ".join(sorted(self.tools)) or "none"
            text = f"Error: there is no tool {call.recipient!r}; available tools: {available}"
        else:
            try:
                text = tool(name, call.text())
            except ToolCallError as error:
                text = f"Error: {error}"
            except Exception as error:  # a broken tool must not end the conversation
                text = f"Error: {call.recipient} failed with {type(error).__name__}: {error}"
        text = truncate_to_tokens(text, self.max_tool_tokens, self.encoding)
        answer = tool_message(call, text)
        self.on_event(LoopEvent("tool_result", step, answer.channel, call.recipient, text))
        return answer
