"""Tool use in harmony: developer functions, the python tool, an offline browser and the agent loop.

Modules, in the order notebook 09 builds them:

* ``docstrings``, ``schema``: a typed, docstringed Python function -> ``ToolDescription`` (JSON Schema);
* ``validate``: check the model's JSON arguments against that schema, with paths in the errors;
* ``functions``: ``FunctionTools``, the ``functions`` namespace (validate, bind, call, report);
* ``sandbox`` (+ ``sandbox_backends``, ``cgroups``, ``sandbox_io``, ``sandbox_child``): ``PythonSandbox``, the
  ``python`` tool, run in bubblewrap or Docker and read back over bounded pipes;
* ``corpus``, ``browser``: ``Browser``, the ``browser`` tool over local documents, with citations;
* ``loop``: ``AgentLoop`` (render, generate, parse, dispatch) driven by a real model
  (``TransformerCompletions``) or by ``RecordedCompletions`` (scripted text, clearly not a model).
"""
from gptoss_edu.agent.browser import Browser, Citation, parse_citations
from gptoss_edu.agent.corpus import Corpus, Document, default_corpus, load_folder
from gptoss_edu.agent.functions import FunctionTools, ToolCallError
from gptoss_edu.agent.loop import (
    AgentLoop,
    AgentResult,
    ChannelPrinter,
    LoopEvent,
    RecordedCompletions,
    TransformerCompletions,
    build_conversation,
    tool_message,
)
from gptoss_edu.agent.sandbox import (
    ExecutionResult,
    PythonSandbox,
    SandboxLimits,
    SandboxUnavailable,
    UnisolatedWarning,
    available_backends,
)
from gptoss_edu.agent.schema import function_schema, function_tool
from gptoss_edu.agent.validate import ArgumentError, check_arguments

__all__ = [
    "AgentLoop", "AgentResult", "ArgumentError", "Browser", "ChannelPrinter", "Citation", "Corpus", "Document",
    "ExecutionResult", "FunctionTools", "LoopEvent", "PythonSandbox", "RecordedCompletions", "SandboxLimits",
    "SandboxUnavailable", "ToolCallError", "TransformerCompletions", "UnisolatedWarning", "available_backends",
    "build_conversation", "check_arguments", "default_corpus", "function_schema", "function_tool", "load_folder",
    "parse_citations", "tool_message",
]
