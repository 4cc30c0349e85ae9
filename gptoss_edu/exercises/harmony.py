"""Checkers for notebook 02 (harmony): writing a message header and one TypeScript property line."""
from __future__ import annotations

import random
from collections.abc import Callable

from gptoss_edu.exercises import Misconception, check_function
from gptoss_edu.harmony import Message, Role, load_harmony_encoding
from gptoss_edu.harmony.typescript import property_lines

ROLES = [Role.USER, Role.ASSISTANT, Role.SYSTEM, Role.DEVELOPER]


def header_text(role: str, channel: str | None, recipient: str | None, content_type: str | None) -> str:
    """The library's header: the rendered message decoded up to and including ``<|message|>``."""
    message = Message.from_role_and_content(Role(role), "")
    if channel is not None:
        message = message.with_channel(channel)
    if recipient is not None:
        message = message.with_recipient(recipient)
    if content_type is not None:
        message = message.with_content_type(content_type)
    encoding = load_harmony_encoding()
    tokens = encoding.render(message)
    return encoding.decode(tokens[: tokens.index(encoding.special.message) + 1])


def random_header_parts(rng: random.Random) -> tuple[str, str | None, str | None, str | None]:
    """A role and, each maybe missing, a channel, a recipient and a content type."""
    role = rng.choice(ROLES).value
    channel = rng.choice([None, "analysis", "commentary", "final"])
    recipient = rng.choice([None, "functions.get_weather", "python", "browser.search"])
    content_type = rng.choice([None, "<|constrain|>json", "code"])
    return role, channel, recipient, content_type


def check_render_header(fn: Callable[[str, str | None, str | None, str | None], str]) -> None:
    """Check ``fn(role, channel, recipient, content_type)`` writes the header text as the library renders it."""
    check_function(fn, header_text, random_header_parts, trials=12, name="render_header",
                   inputs=("role", "channel", "recipient", "content_type"), misconceptions=(
                       Misconception(_channel_before_recipient, "the recipient comes right after the role "
                                     "(`<|start|>assistant to=python<|channel|>...`), before the channel."),
                   ))


def _channel_before_recipient(role: str, channel: str | None, recipient: str | None, content_type: str | None) -> str:
    text = "<|start|>" + role
    text += f"<|channel|>{channel}" if channel else ""
    text += f" to={recipient}" if recipient else ""
    text += f" {content_type}" if content_type else ""
    return text + "<|message|>"


def top_level_property(name: str, schema: dict, required: bool) -> str:
    """The library's line(s) for one property of a function's parameters."""
    return property_lines(name, schema, required, 0)


def random_field(rng: random.Random) -> tuple[str, dict, bool]:
    """A flat property: string, number, boolean, enum or array, maybe described, maybe with a default."""
    kind = rng.choice(["string", "integer", "number", "boolean", "enum", "array"])
    if kind == "enum":
        schema: dict = {"type": "string", "enum": rng.sample(["red", "green", "blue", "auto"], rng.randint(1, 3))}
    elif kind == "array":
        schema = {"type": "array", "items": {"type": rng.choice(["string", "number", "boolean"])}}
    else:
        schema = {"type": kind}
    if rng.random() < 0.5:
        schema["description"] = rng.choice(["The city.", "How many results to return.", "Units to use."])
    if rng.random() < 0.4:
        schema["default"] = schema["enum"][0] if kind == "enum" else {
            "string": "auto", "integer": 3, "number": 0.5, "boolean": False, "array": []}[kind]
    return rng.choice(["city", "count", "unit", "tags"]), schema, rng.random() < 0.5


def check_property_to_typescript(fn: Callable[[str, dict, bool], str]) -> None:
    """Check ``fn(name, schema, required)`` writes the property's TypeScript line(s) as the library does."""
    check_function(fn, top_level_property, random_field, trials=20, name="property_to_typescript",
                   inputs=("name", "schema", "required"), forbidden=(property_lines,), misconceptions=(
                       Misconception(lambda name, schema, required: top_level_property(name, schema, not required),
                                     "the `?` is the wrong way round: an OPTIONAL property is written `name?: type`, "
                                     "a required one `name: type`."),
                   ))
