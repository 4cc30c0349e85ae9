"""Which rendered harmony tokens the assistant writes: the loss mask of supervised fine-tuning.

A training conversation is rendered exactly as at inference (``render_conversation_for_training``
with ``auto_drop_analysis=False``, so the chain of thought stays in), and the loss is taken
only on the tokens the model itself produces when it answers:

- every token of an assistant message: the optional `` to=functions.x`` recipient, the
  ``<|channel|>`` name, ``<|constrain|>json``, ``<|message|>``, the content and the
  closing ``<|end|>`` / ``<|call|>`` / ``<|return|>``;
- except ``<|start|>assistant`` when the previous message was not the assistant's:
  ``render_conversation_for_completion`` puts those two in the prompt, so the model never
  writes them there. Between two assistant messages of one turn (analysis, then final) the
  model does write ``<|start|>assistant`` itself, so there they are trained.

System, developer, user and tool messages are context only (mask False). The mask is read
off the token stream itself (``assistant_mask``), so it holds for any conversation our
harmony renders; the tests check it token by token against openai-harmony's per-message
rendering.
"""
from __future__ import annotations

from collections.abc import Sequence

from gptoss_edu.harmony import Conversation, RenderConversationConfig

KEEP_ANALYSIS = RenderConversationConfig(auto_drop_analysis=False)


def render_for_training(encoding, conversation: Conversation) -> tuple[list[int], list[bool]]:
    """``(token ids, loss mask)`` of ``conversation`` rendered for training with its chain of thought kept."""
    ids = encoding.render_conversation_for_training(conversation, KEEP_ANALYSIS)
    return ids, assistant_mask(encoding, ids)


def special_id(encoding, name: str) -> int:
    """The id of ``<|name|>`` (works with our encoding and with openai-harmony's)."""
    (token,) = encoding.encode(f"<|{name}|>", allowed_special="all")
    return token


def _message_spans(encoding, ids: Sequence[int]) -> list[tuple[int, int, int, str]]:
    """``(start, header_end, end, author)`` of each message: ``ids[start] == <|start|>``, ``ids[end]`` its end token."""
    start, channel, constrain, message = (special_id(encoding, n) for n in ("start", "channel", "constrain", "message"))
    ends = {special_id(encoding, n) for n in ("end", "return", "call")}
    spans, position = [], 0
    while position < len(ids):
        if ids[position] != start:
            raise ValueError(f"token {position} ({encoding.decode([ids[position]])!r}) should be <|start|>: "
                             "the ids are not a sequence of whole harmony messages")
        header_end = position + 1
        while header_end < len(ids) and ids[header_end] not in (channel, constrain, message):
            header_end += 1
        end = header_end
        while end < len(ids) and ids[end] not in ends:
            end += 1
        if end == len(ids):
            raise ValueError(f"the message opened at token {position} has no end token (<|end|>, <|call|>, <|return|>)")
        author = encoding.decode(list(ids[position + 1:header_end])).split(" to=")[0].strip()
        spans.append((position, header_end, end, author))
        position = end + 1
    return spans


def assistant_mask(encoding, ids: Sequence[int]) -> list[bool]:
    """True for every token the assistant writes (see the module docstring), False for the context."""
    role_tokens = 1 + len(encoding.encode("assistant"))  # <|start|> + the role name
    mask = [False] * len(ids)
    previous = None
    for start, _, end, author in _message_spans(encoding, ids):
        if author == "assistant":
            first = start if previous == "assistant" else start + role_tokens
            mask[first:end + 1] = [True] * (end + 1 - first)
        previous = author
    return mask
