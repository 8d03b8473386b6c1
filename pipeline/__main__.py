"""CLI: `python -m pipeline <command>` (also the `image-pipeline` console script).

  run      [--config FILE.yaml] [--profile quick|full] [--set key=value ...]  run locally
  validate [--config FILE.yaml] [--profile ...] [--set ...]                   check the config only
  weights  [--weights-file PATH] [--offline]                                   provision VGG16 weights
  report   [--config ...]                                                      print the last run's summary
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import List, Optional

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")


def _config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="YAML file overriding the profile's defaults")
    p.add_argument("--profile", choices=["quick", "full"], help="default: quick")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one key, e.g. --set trainer.epochs=2 (repeatable)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipeline", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    _config_args(sub.add_parser("run", help="run the pipeline locally (LocalDagRunner)"))
    _config_args(sub.add_parser("validate", help="load and validate the config, print it"))
    _config_args(sub.add_parser("report", help="print the last run's summary from MLMD"))
    w = sub.add_parser("weights", help="provision ImageNet VGG16 weights (offline capable)")
    w.add_argument("--weights-file", help="use this .h5 instead of downloading")
    w.add_argument("--cache-dir", help="where to keep the weights file")
    w.add_argument("--offline", action="store_true", help="skip the Keras download attempt")
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    from pipeline.config import ConfigError, load_config
    from pipeline.run_lock import AlreadyRunningError

    try:
        if args.command == "weights":
            from modules import weights
            wargs: List[str] = []
            if args.weights_file:
                wargs += ["--weights-file", args.weights_file]
            if args.cache_dir:
                wargs += ["--cache-dir", args.cache_dir]
            if args.offline:
                wargs.append("--offline")
            return weights.main(wargs)
        config = load_config(args.config, args.profile, args.overrides)
        if args.command == "validate":
            print(json.dumps(config.to_dict(), indent=2))
            return 0
        if args.command == "report":
            from pipeline.summary import format_summary, run_summary
            print(format_summary(run_summary(config.metadata_path)))
            return 0
        from pipeline.local_runner import run
        from pipeline.summary import format_summary
        summary = run(config)
        print(format_summary(summary))
        print(f"wall time: {summary['wall_seconds']} s; MLMD: {config.metadata_path}")
        return 0
    except ConfigError as e:
        print(f"config error: {e}", file=sys.stderr)
        return 2
    except AlreadyRunningError as e:
        print(f"error: {e}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
