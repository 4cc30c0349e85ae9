"""``python -m gptoss_edu.chat``: end to end in a pseudo-terminal on a random checkpoint, and its error paths."""
from __future__ import annotations

import io
import os
import re
import select
import signal
import socket
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest

from gptoss_edu.agent.loop import RecordedCompletions
from gptoss_edu.chat import DIM, RESET, build_parser, run_chat
from gptoss_edu.config import TINY
from gptoss_edu.harmony import Role
from weights_tools.synthetic import write_checkpoint

pty = pytest.importorskip("pty")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return write_checkpoint(tmp_path_factory.mktemp("chat") / "tiny", TINY, "original", seed=1)


class Terminal:
    """The chat running in a pseudo-terminal: ``expect`` reads until a text appears, ``send`` types."""

    def __init__(self, *args: str):
        self.master, slave = pty.openpty()
        env = dict(os.environ, OMP_NUM_THREADS="1")
        self.process = subprocess.Popen([sys.executable, "-m", "gptoss_edu.chat", *args], stdin=slave, stdout=slave,
                                        stderr=slave, env=env, close_fds=True)
        os.close(slave)
        self.output = ""

    def expect(self, text: str, count: int = 1, timeout: float = 240) -> str:
        deadline = time.monotonic() + timeout
        while self.output.count(text) < count:
            ready, _, _ = select.select([self.master], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise AssertionError(f"{text!r} did not appear; the terminal shows:\n{self.output}")
            try:
                self.output += os.read(self.master, 4096).decode(errors="replace")
            except OSError:  # the child closed the terminal
                raise AssertionError(f"{text!r} did not appear before exit; the terminal shows:\n{self.output}") from None
        return self.output

    def send(self, text: str) -> None:
        os.write(self.master, text.encode())

    def wait(self) -> int:
        code = self.process.wait(timeout=60)
        os.close(self.master)
        return code


def test_chat_turns_in_a_pseudo_terminal_then_ctrl_d(checkpoint):
    term = Terminal(str(checkpoint), "--temperature", "0", "--max-new-tokens", "8", "--mmap")
    term.expect("User: ")
    assert "reasoning low" in term.output and "\033[" in term.output  # a terminal gets colours
    term.send("Hello, who are you?\n")
    start = len(term.output)
    term.expect("User: ", count=2)  # the next prompt: the turn is over
    term.send("\x04")  # Ctrl-D: end of input
    assert term.wait() == 0
    answer = term.output[start:]
    assert "Traceback" not in term.output
    # a random model writes no valid harmony, so the turn ends with the parser's reason, named
    assert "[stopped:" in answer or "Assistant:" in answer


def test_ctrl_c_ends_the_chat_cleanly(checkpoint):
    term = Terminal(str(checkpoint), "--temperature", "0", "--max-new-tokens", "400")
    term.expect("User: ")
    term.send("Tell me a long story\n")
    time.sleep(1.0)
    term.process.send_signal(signal.SIGINT)  # Ctrl-C while the model generates
    assert term.wait() == 0
    assert "Traceback" not in term.output and "KeyboardInterrupt" not in term.output


def run_module(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gptoss_edu.chat", *args], capture_output=True, text=True, timeout=240)


def test_missing_checkpoint_is_one_clear_error(tmp_path):
    result = run_module(str(tmp_path / "nowhere"))
    assert result.returncode == 2
    assert "nowhere" in result.stderr and "no such checkpoint folder" in result.stderr
    assert "Traceback" not in result.stderr


def test_broken_checkpoint_names_the_file(checkpoint, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_bytes((checkpoint / "config.json").read_bytes())
    data = (checkpoint / "model.safetensors").read_bytes()
    (broken / "model.safetensors").write_bytes(data[: len(data) // 2])  # a download cut short
    result = run_module(str(broken))
    assert result.returncode == 2
    assert "model.safetensors" in result.stderr and "truncated" in result.stderr
    assert "Traceback" not in result.stderr


def test_analysis_streams_dimmed_and_final_plain():
    script = ["<|channel|>analysis<|message|>User greets. Reply.<|end|>"
              "<|start|>assistant<|channel|>final<|message|>Hello!<|return|>",
              "<|channel|>final<|message|>Still here.<|return|>"]
    args = build_parser().parse_args(["unused", "--reasoning-effort", "high"])
    lines = iter(["hi", "", "again"])

    def read(prompt, out):
        out.write(prompt)
        try:
            return next(lines)
        except StopIteration:
            raise EOFError from None

    out = io.StringIO()
    out.isatty = lambda: True  # colours as on a terminal
    recorded = RecordedCompletions(script)
    conversation = run_chat(SimpleNamespace(config=SimpleNamespace(name="recorded")), args, read, out, recorded)
    text = out.getvalue()
    dimmed = "".join(re.findall(re.escape(DIM) + "(.*?)" + re.escape(RESET), text, flags=re.S))
    assert dimmed == "User greets. Reply."  # streamed piece by piece, every piece dimmed
    assert "Assistant:\x1b[0m\nHello!\n" in text  # the final answer plain
    assert "Still here." in text
    roles = [m.author.role for m in conversation.messages]
    assert roles[0] == Role.SYSTEM and roles.count(Role.USER) == 2  # the empty line was not sent
    assert all(m.channel != "analysis" for m in conversation.messages)  # dropped once the final answer came
    assert "Reasoning: high" in recorded.encoding.decode(recorded.prompts[0])


@pytest.mark.slow
def test_chat_split_over_two_ranks_under_torchrun(checkpoint):
    """``torchrun --nproc-per-node 2 -m gptoss_edu.chat CKPT --parallel tensor``: rank 0 reads, both compute."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-addr", "127.0.0.1",
               "--master-port", str(port), "-m", "gptoss_edu.chat", str(checkpoint), "--parallel", "tensor",
               "--temperature", "0", "--max-new-tokens", "6"]
    result = subprocess.run(command, input="hello there\n", capture_output=True, text=True, timeout=600,
                            env={**os.environ, "GLOO_SOCKET_IFNAME": "lo"})
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("gpt-oss chat:") == 1, "only rank 0 prints"
    assert "[stopped" in result.stdout or "Assistant:" in result.stdout or "Thinking:" in result.stdout


def test_parallel_chat_refuses_the_python_tool(checkpoint):
    result = run_module(str(checkpoint), "--parallel", "tensor", "--python")
    assert result.returncode == 2 and "--python with --parallel" in result.stderr and "Traceback" not in result.stderr
