"""``python -m weights_tools <command>`` (also installed as ``gptoss-weights``).

Commands: ``synth``, ``inspect``, ``verify``, ``convert``, ``bundle``, ``download``; each has
``--help``. Exit status 0 on success, 1 on any problem (one line per problem on stderr),
2 for a malformed command line.
"""
from __future__ import annotations

import argparse
import json
import re
import sys

from gptoss_edu.config import PRESETS, ModelConfig, get_preset
from gptoss_edu.io.vocab import VocabError

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12, "ki": 2**10, "mi": 2**20, "gi": 2**30, "ti": 2**40}


def byte_size(text: str) -> int:
    """``"5GiB"``, ``"500MB"``, ``"1000000"`` -> bytes."""
    match = _SIZE.match(text)
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size like 2GiB, 500MB or 1000000")
    unit = (match.group(2) or "").lower().removesuffix("b")
    return int(float(match.group(1)) * _UNITS[unit])


def config_from_args(args: argparse.Namespace) -> ModelConfig:
    """A preset or a config.json, then ``--set field=value`` overrides."""
    config = ModelConfig.from_json_file(args.config) if args.config else get_preset(args.preset)
    changes = {}
    for item in args.set or []:
        key, _, value = item.partition("=")
        if not hasattr(config, key) or not value:
            raise ValueError(f"--set {item!r}: expected field=value with a ModelConfig field")
        changes[key] = type(getattr(config, key))(value)
    return config.replace(**changes)


def cmd_synth(args: argparse.Namespace) -> int:
    from weights_tools.synthetic import write_checkpoint

    config = config_from_args(args)
    path = write_checkpoint(args.out, config, args.layout, args.seed, args.shard_bytes, args.overwrite,
                            progress=not args.quiet)
    print(f"wrote a random {config.name} checkpoint ({args.layout} layout, seed {args.seed}) to {path}")
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    from weights_tools.inspection import format_report, inspect_checkpoint

    report = inspect_checkpoint(args.path, args.layout, histogram=not args.no_histogram)
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from weights_tools.verify import verify

    problems = verify(args.path, args.layout, content=not args.headers_only, progress=not args.quiet)
    for line in problems:
        print(line, file=sys.stderr)
    print(f"{args.path}: {len(problems)} problem(s)" if problems else f"{args.path}: OK")
    return 1 if problems else 0


def cmd_convert(args: argparse.Namespace) -> int:
    from weights_tools.convert import convert

    path = convert(args.src, args.dst, args.to, args.dequantize, args.shard_bytes, args.overwrite,
                   progress=not args.quiet)
    print(f"wrote {path} ({args.to} layout{', bf16 experts' if args.dequantize else ''})")
    return 0


def cmd_bundle(args: argparse.Namespace) -> int:
    from weights_tools.bundle import make_bundle

    out = make_bundle(args.out, args.checkpoint, args.name, args.vocab, progress=not args.quiet)
    print(f"bundle ready at {out}; use it with: export GPTOSS_EDU_BUNDLE={out.resolve()}")
    return 0


def cmd_download(args: argparse.Namespace) -> int:
    from weights_tools.download import download

    out = download(args.repo, args.out or args.repo.split("/")[-1], args.layout, args.revision, not args.no_verify,
                   args.timeout)
    print(f"downloaded and verified {args.repo} into {out}")
    return 0


def _add_layout(p: argparse.ArgumentParser) -> None:
    p.add_argument("--layout", choices=("auto", "original", "hf"), default="auto",
                   help="which layout to read (auto: original/ if present, else what config.json says)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m weights_tools",
                                     description="The gpt-oss checkpoint toolbox (also installed as gptoss-weights).")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("synth", parents=[common], help="write a random checkpoint of any config, in either layout")
    p.add_argument("out", help="folder to create")
    p.add_argument("--preset", choices=sorted(PRESETS), default="tiny", help="config preset (default tiny)")
    p.add_argument("--config", help="a config.json (either flavour) instead of a preset")
    p.add_argument("--set", action="append", metavar="FIELD=VALUE", help="override a config field; repeatable")
    p.add_argument("--layout", choices=("original", "hf"), default="original")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--shard-bytes", type=byte_size, default="5GiB", help="cut files after this size (default 5GiB)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing folder")
    p.set_defaults(run=cmd_synth)

    p = sub.add_parser("inspect", parents=[common], help="layout, tensors by component, totals vs the config, scale histogram")
    p.add_argument("path")
    _add_layout(p)
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--no-histogram", action="store_true", help="skip reading the MXFP4 scales")
    p.set_defaults(run=cmd_inspect)

    p = sub.add_parser("verify", parents=[common], help="check every tensor (names, shapes, dtypes, shards, NaN/Inf, scales)")
    p.add_argument("path")
    _add_layout(p)
    p.add_argument("--headers-only", action="store_true", help="check structure only, do not scan the data")
    p.set_defaults(run=cmd_verify)

    p = sub.add_parser("convert", parents=[common], help="original <-> hf, MXFP4 kept packed (or --dequantize to bf16)")
    p.add_argument("src")
    p.add_argument("dst")
    p.add_argument("--to", choices=("original", "hf"), required=True, help="target layout")
    p.add_argument("--dequantize", action="store_true", help="store expert weights as bf16")
    p.add_argument("--shard-bytes", type=byte_size, default="5GiB")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(run=cmd_convert)

    p = sub.add_parser("bundle", parents=[common], help="a classroom folder: vocab + checkpoint + README ($GPTOSS_EDU_BUNDLE)")
    p.add_argument("out", help="bundle folder (created, or extended)")
    p.add_argument("checkpoint", help="checkpoint folder to include")
    p.add_argument("--name", help="name inside the bundle (default: the folder name)")
    p.add_argument("--vocab", help="o200k_base.tiktoken to include (default: gptoss_edu.io.vocab.resolve_vocab)")
    p.set_defaults(run=cmd_bundle)

    p = sub.add_parser("download", parents=[common], help="fetch openai/gpt-oss-20b or -120b from the Hub, then verify")
    p.add_argument("repo", help="gpt-oss-20b, gpt-oss-120b or owner/name")
    p.add_argument("--out", help="target folder (default: the repository name)")
    p.add_argument("--layout", choices=("original", "hf"), default="original")
    p.add_argument("--revision")
    p.add_argument("--no-verify", action="store_true")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for a connection or an answer (default 30)")
    p.set_defaults(run=cmd_download)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from gptoss_edu.io.checkpoint import CheckpointError  # after parsing: --help stays fast (no torch)
    from weights_tools.download import OfflineError

    try:
        return args.run(args)
    except (CheckpointError, OfflineError, VocabError, OSError, ValueError, KeyError) as e:
        message = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"error: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
