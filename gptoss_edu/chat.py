"""``python -m gptoss_edu.chat CHECKPOINT``: talk to gpt-oss in the terminal.

Like OpenAI's reference ``gpt_oss.chat``, on this course's own parts: our tokenizer and
harmony renderer, our model, and the agent loop of ``gptoss_edu.agent``, which streams each
turn through a ``StreamableParser`` and runs the tools the model calls.

- The system message carries the reasoning effort (``--reasoning-effort low|medium|high``).
- The analysis channel (chain of thought) streams dimmed; the final answer prints plainly;
  tool calls and tool answers are labelled.
- ``--python`` and ``--browser`` give the model the sandboxed python tool and the offline
  browser over the course's own documents.
- ``torchrun --nproc-per-node N -m gptoss_edu.chat CHECKPOINT --parallel tensor|expert`` splits
  the model over the ranks (``gptoss_edu.parallel``): rank 0 reads the input and prints, every
  rank computes its share, and rank 0's sampled token is the one every rank continues with.
- Ctrl-C or Ctrl-D (end of input) ends the chat cleanly; a missing or broken checkpoint is
  reported in one message naming the culprit, without a traceback.

Each turn renders the whole conversation again (analysis of finished turns dropped, as
harmony does) and generates with a fresh KV cache.

``main`` is three steps that other front ends can reuse or replace: ``build_parser`` (the
options), ``load_chat_model`` (options -> model) and ``run_chat`` (model, options, a line
reader and an output stream -> the conversation).
"""
from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import TextIO

from gptoss_edu.agent.loop import AgentLoop, LoopEvent, TransformerCompletions, build_conversation
from gptoss_edu.harmony import Conversation, Message, ReasoningEffort, Role, SystemContent

EFFORTS = {"low": ReasoningEffort.LOW, "medium": ReasoningEffort.MEDIUM, "high": ReasoningEffort.HIGH}
DIM, BOLD, CYAN, MAGENTA, RESET = "\033[2m", "\033[1m", "\033[36m", "\033[35m", "\033[0m"
PROMPT = "User: "


def build_parser() -> argparse.ArgumentParser:
    """The command line options."""
    parser = argparse.ArgumentParser(prog="python -m gptoss_edu.chat", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("checkpoint", help="checkpoint folder (either layout, or a Hub download holding original/)")
    parser.add_argument("-r", "--reasoning-effort", choices=sorted(EFFORTS), default="low")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--temperature", type=float, default=1.0, help="0 means greedy")
    parser.add_argument("--top-p", type=float, default=1.0)
    parser.add_argument("--max-new-tokens", type=int, default=1024, help="per model call")
    parser.add_argument("-p", "--python", action="store_true", help="give the model the sandboxed python tool")
    parser.add_argument("-b", "--browser", action="store_true", help="give the model the offline browser tool")
    parser.add_argument("--developer-message", default="", help="instructions for the developer message")
    parser.add_argument("--mmap", action="store_true", help="CPU: leave the packed experts memory-mapped in the files")
    parser.add_argument("--seed", type=int, default=None, help="sampling seed")
    parser.add_argument("--context", type=int, default=None,
                        help="CUDA: tokens of context the GPU must have room for (default 8192; load_model checks)")
    parser.add_argument("--parallel", choices=("tensor", "expert"), default=None,
                        help="under torchrun: split the model over the ranks (gptoss_edu.parallel); rank 0 reads and prints")
    return parser


def load_chat_model(args: argparse.Namespace):
    """The model the options ask for: bf16, packed experts, the fastest cores for the device (``load_model``)."""
    import torch

    from gptoss_edu.io.checkpoint import load_model

    if args.device == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA device is available here; use --device cpu")
    return load_model(args.checkpoint, device=args.device, dtype=torch.bfloat16, mmap=args.mmap, context=args.context)


def load_parallel_chat_model(args: argparse.Namespace):
    """Under torchrun: this rank's share of the model (``gptoss_edu.parallel``) and whether this is rank 0."""
    import torch

    from gptoss_edu.parallel import setup_for_chat

    if args.python:
        raise ValueError("--python with --parallel: the sandbox would run the model's code once per rank; "
                         "leave out one of them")
    if args.mmap:
        raise ValueError("--mmap with --parallel: each rank already reads only its own slices")
    cuda = args.device == "cuda"
    if cuda and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA device is available here; use --device cpu")
    return setup_for_chat(args.checkpoint, args.parallel, device=None if cuda else "cpu",
                          dtype=torch.bfloat16 if cuda else torch.float32)


def read_on_rank0(is_rank0: bool) -> Callable[[str, TextIO], str]:
    """A ``read`` for ``run_chat`` under torchrun: rank 0 reads a line (or the end of input), every rank gets it."""
    from gptoss_edu.parallel import share_from_rank0

    def read(prompt: str, out: TextIO) -> str:
        line = None
        if is_rank0:
            try:
                line = read_line(prompt, out)
            except EOFError:
                line = None
        line = share_from_rank0(line)
        if line is None:
            raise EOFError
        return line

    return read


def tools_for(args: argparse.Namespace) -> list:
    """The tools ``--python`` and ``--browser`` ask for."""
    tools = []
    if args.python:
        from gptoss_edu.agent.sandbox import PythonSandbox

        tools.append(PythonSandbox())
    if args.browser:
        from gptoss_edu.agent.browser import Browser
        from gptoss_edu.agent.corpus import default_corpus

        tools.append(Browser(default_corpus()))
    return tools


class TerminalPrinter:
    """Streams agent-loop events to a terminal: analysis dimmed, final plain, tool traffic labelled.

    Colours only when ``color`` (by default: when ``out`` is a terminal).
    """

    def __init__(self, out: TextIO, color: bool | None = None):
        self.out = out
        self.color = out.isatty() if color is None else color
        self.open: tuple[str | None, str | None] | None = None  # (channel, recipient) being streamed

    def style(self, text: str, code: str) -> str:
        return f"{code}{text}{RESET}" if self.color and text else text

    def __call__(self, event: LoopEvent) -> None:
        if event.kind == "delta":
            if self.open != (event.channel, event.recipient):
                self.close()
                self.write(self.style(self.heading(event.channel, event.recipient), BOLD) + "\n")
                self.open = (event.channel, event.recipient)
            self.write(self.style(event.text, DIM) if event.channel == "analysis" else event.text)
        elif event.kind == "message":
            self.close()
        elif event.kind == "tool_result":
            self.close()
            self.write(self.style(f"{event.recipient} output:", MAGENTA) + f"\n{event.text}\n")
        elif event.kind == "stop" and event.text != "final answer":
            self.close()
            self.write(self.style(f"[stopped: {event.text}]", CYAN) + "\n")

    @staticmethod
    def heading(channel: str | None, recipient: str | None) -> str:
        if recipient:
            return f"Tool call to {recipient}:"
        return {"analysis": "Thinking:", "final": "Assistant:"}.get(channel or "", f"[{channel or 'no channel'}]")

    def close(self) -> None:
        """End the message being streamed (a newline), if any."""
        if self.open is not None:
            self.write("\n")
            self.open = None

    def write(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()


def read_line(prompt: str, out: TextIO) -> str:
    """One line from standard input after ``prompt``; ``EOFError`` at end of input."""
    out.write(prompt)
    out.flush()
    line = sys.stdin.readline()
    if not line:
        raise EOFError
    return line.rstrip("\n")


def run_chat(model, args: argparse.Namespace, read: Callable[[str, TextIO], str] = read_line,
             out: TextIO = sys.stdout, completions=None) -> Conversation:
    """Chat until end of input; return the conversation so far. Ctrl-C propagates as ``KeyboardInterrupt``.

    ``completions`` (default: ``model`` sampled with the options' settings) is any completion
    model of the agent loop, e.g. ``RecordedCompletions`` in a test.
    """
    tools = tools_for(args)
    printer = TerminalPrinter(out)
    completions = completions or TransformerCompletions(
        model, max_new_tokens=args.max_new_tokens, temperature=args.temperature, top_p=args.top_p, seed=args.seed)
    loop = AgentLoop(completions, tools, on_event=printer)
    system = SystemContent.new().with_reasoning_effort(EFFORTS[args.reasoning_effort])
    messages: list[Message] = []
    effort = args.reasoning_effort
    tool_names = ", ".join(tool.namespace for tool in tools) or "none"
    out.write(printer.style(f"gpt-oss chat: {model.config.name}, reasoning {effort}, tools: {tool_names}. "
                            "Ctrl-D or Ctrl-C to leave.", CYAN) + "\n")
    while True:
        try:
            line = read(printer.style(PROMPT, BOLD), out)
        except EOFError:
            out.write("\n")
            return Conversation.from_messages(messages)
        if not line.strip():
            continue
        if messages:
            messages.append(Message.from_role_and_content(Role.USER, line))
        else:  # the first turn also writes the system and developer messages
            messages = list(build_conversation(line, tools, args.developer_message or None, system).messages)
        messages = list(loop.run(Conversation.from_messages(messages)).conversation.messages)


def main(argv: list[str] | None = None) -> int:
    """Parse options, load the model, chat. Returns the exit status."""
    args = build_parser().parse_args(argv)
    from gptoss_edu.io.checkpoint import CheckpointError

    try:
        model, is_rank0 = load_parallel_chat_model(args) if args.parallel else (load_chat_model(args), True)
    except (CheckpointError, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130
    try:
        if args.parallel:
            with open(os.devnull, "w") as silent:
                run_chat(model, args, read=read_on_rank0(is_rank0), out=sys.stdout if is_rank0 else silent)
        else:
            run_chat(model, args)
    except KeyboardInterrupt:
        sys.stdout.write(RESET + "\n" if sys.stdout.isatty() else "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
