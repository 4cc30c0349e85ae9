"""Random harmony conversations for differential tests against ``openai_harmony``.

``random_conversation(rng)`` draws a spec (plain data); ``build(lib, spec)`` turns it into a
``Conversation`` of either library (``openai_harmony`` or ``gptoss_edu.harmony``), so the two
can render, parse and serialise the very same conversation. Tool parameters are random JSON
Schemas rich in ``oneOf``/``anyOf``, nested objects, arrays of objects, enums, const, nullable,
defaults of every JSON type, examples, titles and required lists.
"""
from __future__ import annotations

import random
from typing import Any

WORDS = ["city", "unit", "x", "query", "mode", "id", "q_1", "Name", "été", "数据", "a b", "to=x", "<|end|>", ""]
TEXT_PIECES = ["hello", " world", "é", "😀", "👍🏽", "日本語", "\n", "\n\n", "\t", " ", "  ", "\r\n", "<|end|>", "<|start|>",
               "<|channel|>", "<|message|>", "<|constrain|>", "<|return|>", "'s", "123", "4.5", "{", "}", '"', "\\", "//",
               "\u00a0", "\u2028", "x" * 40]


def random_text(rng: random.Random, max_pieces: int = 6) -> str:
    return "".join(rng.choice(TEXT_PIECES) for _ in range(rng.randint(0, max_pieces)))


def random_word(rng: random.Random) -> str:
    return rng.choice(WORDS) if rng.random() < 0.8 else random_text(rng, 2)


def random_value(rng: random.Random, depth: int = 0) -> Any:
    """Any JSON value (defaults, consts, enum members, examples)."""
    kind = rng.choice(["str", "int", "float", "bool", "null", "list", "dict"] if depth < 2 else ["str", "int", "float"])
    if kind == "str":
        return random_text(rng, 3)
    if kind == "int":
        return rng.choice([0, 1, -7, 42, 2**40, -(2**63), 2**64 - 1, 2**70, rng.randint(-1000, 1000)])
    if kind == "float":
        return rng.choice([0.5, -2.0, 1e-5, 1.5e-5, 1e-7, 3.14159, 1e16, 1.5e20, 123456.789, -0.0, 0.1 + 0.2,
                           rng.uniform(-1e3, 1e3), 10 ** rng.uniform(-9, 22)])
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "null":
        return None
    if kind == "list":
        return [random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return {random_word(rng): random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))}


def _decorate(rng: random.Random, schema: dict) -> dict:
    """Maybe a description, title, default, examples, nullable (the keys harmony shows)."""
    if rng.random() < 0.45:
        schema["description"] = rng.choice([random_text(rng, 3), "The city.", "P", "V", "Line 1\nLine 2"])
    if rng.random() < 0.15:
        schema["title"] = random_word(rng)
    if rng.random() < 0.35:
        schema["default"] = random_value(rng)
    if rng.random() < 0.12:
        schema["examples"] = [random_value(rng, 2) for _ in range(rng.randint(0, 3))]
    if rng.random() < 0.15:
        schema["nullable"] = rng.choice([True, True, False, "yes"])
    if rng.random() < 0.03:
        schema["description"] = rng.choice([7, None, ["x"]])  # not a string: ignored
    return schema


def random_schema(rng: random.Random, depth: int = 0) -> Any:
    """One JSON Schema, nested up to ``depth`` 3."""
    leaf = depth >= 3
    kind = rng.choice(["primitive"] * 4 + ["enum", "typelist", "odd"] + ([] if leaf else ["object", "object", "array",
                                                                                            "oneOf", "oneOf", "oneOf", "anyOf"]))
    if kind == "primitive":
        schema: Any = {"type": rng.choice(["string", "integer", "number", "boolean", "null"])}
    elif kind == "enum":
        values = [random_word(rng) for _ in range(rng.randint(0, 3))] + ([random_value(rng, 2)] if rng.random() < 0.2 else [])
        schema = {"type": rng.choice(["string", "string", "integer"]), "enum": values}
    elif kind == "typelist":
        schema = {"type": rng.sample(["string", "integer", "number", "boolean", "null", "object", "array", 5], rng.randint(0, 3))}
    elif kind == "odd":
        schema = rng.choice([{}, True, {"$ref": "#/definitions/x"}, {"const": random_value(rng, 2)}, {"type": "array"},
                             {"allOf": [{"type": "string"}]}, {"type": "weird"}, {"oneOf": "not a list"},
                             {"type": "string", "enum": "nope"}, {"items": {"type": "string"}}])
        if isinstance(schema, dict):
            schema = dict(schema)
    elif kind == "object":
        schema = random_object(rng, depth + 1)
    elif kind == "array":
        schema = {"type": "array", "items": random_schema(rng, depth + 1)}
    else:
        variants = [random_schema(rng, depth + 1) for _ in range(rng.randint(1, 4))]
        schema = {kind: variants}
        if kind == "oneOf" and rng.random() < 0.2 and isinstance(variants[0], dict) and "description" in variants[0]:
            schema["description"] = variants[0]["description"]  # a union described like its first variant
        if rng.random() < 0.1:
            schema["type"] = rng.choice(["object", "string"])
    return _decorate(rng, schema) if isinstance(schema, dict) else schema


def random_object(rng: random.Random, depth: int) -> dict:
    names = list(dict.fromkeys(random_word(rng) for _ in range(rng.randint(0, 4))))
    schema: dict = {"type": "object", "properties": {n: random_schema(rng, depth) for n in names}}
    if rng.random() < 0.7:
        schema["required"] = rng.sample(names, rng.randint(0, len(names))) + (["missing"] if rng.random() < 0.1 else [])
    if rng.random() < 0.05:
        schema["properties"] = rng.choice([[], "x", None])
    return schema


def random_parameters(rng: random.Random) -> Any:
    roll = rng.random()
    if roll < 0.1:
        return None
    if roll < 0.15:
        schema = random_schema(rng, 1)
        return schema if isinstance(schema, dict) else {}
    return random_object(rng, 0)


def random_tools(rng: random.Random) -> list[tuple[str, str, Any]]:
    return [(random_word(rng) or "f", rng.choice(["", "Does it.", random_text(rng, 4), "a\nb\n", "x\r\ny"]),
             random_parameters(rng)) for _ in range(rng.randint(0, 3))]


def random_namespace(rng: random.Random) -> dict:
    return {"name": rng.choice(["functions", "custom", "zeta", "ns"]), "description": rng.choice([None, "", "Some tools.", "A\nB"]),
            "tools": random_tools(rng)}


def random_system(rng: random.Random) -> dict:
    maybe = lambda value, p=0.8: value if rng.random() < p else None  # noqa: E731
    return {"model_identity": maybe(rng.choice(["You are ChatGPT, a large language model trained by OpenAI.", "", random_text(rng)])),
            "reasoning_effort": maybe(rng.choice(["Low", "Medium", "High"])),
            "conversation_start_date": maybe(rng.choice(["2025-06-28", ""]), 0.4),
            "knowledge_cutoff": maybe(rng.choice(["2024-06", ""])),
            "channels": maybe((rng.sample(["analysis", "commentary", "final", "x y"], rng.randint(0, 3)), rng.random() < 0.8)),
            "builtin": rng.sample(["browser", "python"], rng.randint(0, 2)),
            "namespaces": [random_namespace(rng) for _ in range(rng.randint(0, 1))]}


def random_message(rng: random.Random) -> dict:
    kind = rng.choice(["system", "developer", "user", "user", "assistant", "assistant", "assistant", "tool"])
    spec: dict = {"kind": kind, "text": random_text(rng)}
    if kind == "system":
        spec["system"] = random_system(rng)
    elif kind == "developer":
        spec["instructions"] = rng.choice([None, "", "Be brief.", random_text(rng)])
        spec["functions"] = random_tools(rng) if rng.random() < 0.8 else None
        spec["namespaces"] = [random_namespace(rng)] if rng.random() < 0.2 else []
    elif kind in ("user", "assistant"):
        spec["name"] = rng.choice([None] * 6 + ["alice", "", "bob smith"])
    else:
        spec["name"] = rng.choice(["functions.get_weather", "browser.search", "python", "tool", "x y", ""])
    if kind == "assistant":
        spec["channel"] = rng.choice([None, "analysis", "analysis", "commentary", "final", "final", "final", ""])
    elif kind == "tool":
        spec["channel"] = rng.choice([None, "commentary", "analysis"])
    else:
        spec["channel"] = rng.choice([None] * 8 + ["final"])
    spec["recipient"] = rng.choice([None] * 5 + ["functions.get_weather", "python", "all", "assistant", "browser.open"])
    spec["content_type"] = rng.choice([None] * 5 + ["<|constrain|>json", "json", "code", "<|constrain|>", "text/plain"])
    spec["extra_text"] = random_text(rng) if rng.random() < 0.1 else None
    return spec


def random_conversation(rng: random.Random) -> list[dict]:
    head = [random_message(rng) | {"kind": "system", "system": random_system(rng)}] if rng.random() < 0.8 else []
    if rng.random() < 0.7:
        head.append({**random_message(rng), "kind": "developer", "instructions": rng.choice([None, "Use tools."]),
                     "functions": random_tools(rng) or [("f", "d", random_object(rng, 0))], "namespaces": []})
    return head + [random_message(rng) for _ in range(rng.randint(1, 6))]


# -- building the spec in a library --------------------------------------------------------------

def _tool_descriptions(lib, tools):
    return [lib.ToolDescription.new(name, description, parameters) for name, description, parameters in tools]


def _namespace(lib, ns):
    return lib.ToolNamespaceConfig(name=ns["name"], description=ns["description"], tools=_tool_descriptions(lib, ns["tools"]))


def _system_content(lib, spec):
    content = lib.SystemContent.new()
    content.model_identity = spec["model_identity"]
    content.reasoning_effort = None if spec["reasoning_effort"] is None else lib.ReasoningEffort(spec["reasoning_effort"])
    content.conversation_start_date = spec["conversation_start_date"]
    content.knowledge_cutoff = spec["knowledge_cutoff"]
    channels = spec["channels"]
    content.channel_config = None if channels is None else lib.ChannelConfig(valid_channels=channels[0], channel_required=channels[1])
    for tool in spec["builtin"]:
        content = content.with_browser_tool() if tool == "browser" else content.with_python_tool()
    for ns in spec["namespaces"]:
        content = content.with_tools(_namespace(lib, ns))
    return content


def build_message(lib, spec: dict):
    kind = spec["kind"]
    if kind == "system":
        content = _system_content(lib, spec["system"])
    elif kind == "developer":
        content = lib.DeveloperContent.new()
        if spec["instructions"] is not None:
            content = content.with_instructions(spec["instructions"])
        if spec["functions"] is not None:
            content = content.with_function_tools(_tool_descriptions(lib, spec["functions"]))
        for ns in spec["namespaces"]:
            content = content.with_tools(_namespace(lib, ns))
    else:
        content = spec["text"]
    role = lib.Role(kind)
    author = lib.Author(role=role, name=spec.get("name"))
    message = lib.Message.from_author_and_content(author, content)
    if spec["extra_text"] is not None:
        message = message.adding_content(spec["extra_text"])
    for field in ("channel", "recipient", "content_type"):
        if spec[field] is not None:
            message = getattr(message, f"with_{field}")(spec[field])
    return message


def build(lib, spec: list[dict]):
    return lib.Conversation.from_messages([build_message(lib, m) for m in spec])
