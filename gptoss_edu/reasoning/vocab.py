"""A compact vocabulary: the few hundred o200k_harmony ids the task uses, renumbered 0..V-1.

A model over all 201,088 o200k_harmony ids would spend almost all of its parameters and
time on an embedding table and an unembedding it never uses: the sums task needs a few
hundred tokens. So the student model works on compact ids, and everything else works on
the real ones: conversations are rendered with harmony into real o200k_harmony ids, the
loss mask is computed there, then the ids are mapped (one-to-one) to compact ids for the
model; generated compact ids are mapped back before harmony parses them. Nothing about
the harmony format changes; only the model's input and output layers are smaller.

The vocabulary is every id in the training renderings of a fixed sample of problems at
every effort level, with and without the calculator, plus the numbers 0..99 and the
harmony stop tokens, sorted by o200k id.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

from gptoss_edu.reasoning.masks import render_for_training, special_id
from gptoss_edu.reasoning.tasks import EFFORTS, problems, teacher_conversation

VOCAB_SAMPLE = 300  # problems per effort level (and for the tool variant) scanned for token ids


class OutOfVocabulary(KeyError):
    """A text uses an o200k id that the compact vocabulary (and so the student) does not have."""


class CompactVocab:
    """A one-to-one map between the o200k ids in ``o200k_ids`` and compact ids ``0 .. len-1``."""

    def __init__(self, o200k_ids: Iterable[int]):
        self.o200k_ids = sorted(set(int(i) for i in o200k_ids))
        self._compact = {token: index for index, token in enumerate(self.o200k_ids)}

    def __len__(self) -> int:
        return len(self.o200k_ids)

    def __contains__(self, o200k_id: int) -> bool:
        return o200k_id in self._compact

    def to_compact(self, o200k_ids: Sequence[int], encoding=None) -> list[int]:
        """Compact ids of ``o200k_ids``; an id outside the vocabulary is an error naming its position."""
        out = []
        for position, token in enumerate(o200k_ids):
            if token not in self._compact:
                text = f" ({encoding.decode([token])!r})" if encoding is not None else ""
                raise OutOfVocabulary(f"o200k id {token}{text} at position {position} is not in the compact vocabulary "
                               f"of {len(self)} ids: the text uses a token the task never does")
            out.append(self._compact[token])
        return out

    def to_o200k(self, compact_ids: Sequence[int]) -> list[int]:
        """The o200k_harmony ids of ``compact_ids``."""
        for position, token in enumerate(compact_ids):
            if not 0 <= token < len(self):
                raise IndexError(f"compact id {token} at position {position} is outside 0..{len(self) - 1}")
        return [self.o200k_ids[token] for token in compact_ids]


def build_vocab(encoding) -> CompactVocab:
    """The task's vocabulary (see the module docstring); deterministic."""
    ids: set[int] = set()
    samples = [p for effort in EFFORTS for p in problems(VOCAB_SAMPLE, seed=1, effort=effort)]
    samples += problems(VOCAB_SAMPLE, seed=2, with_tool=True)
    for problem in samples:
        ids.update(render_for_training(encoding, teacher_conversation(problem))[0])
    for number in range(100):
        ids.update(encoding.encode(str(number)))
    ids.update(special_id(encoding, name) for name in ("return", "call", "endoftext"))
    return CompactVocab(ids)
