"""CLI: `python -m pipeline <command>` (also the `image-pipeline` console script).

  run      [--config FILE.yaml] [--profile quick|full|compression] [--set key=value ...] [--verbose]
           [--require-push]  run locally: one line per component on the console, the full log in
           <output.root>/logs/run-*.log (--verbose: the full stream on the console instead)
  validate [--config FILE.yaml] [--profile ...] [--set ...]                   check the config only
  weights  [--weights-file PATH] [--cache-dir DIR] [--offline]                 provision VGG16 weights
  report   [--config ...]                                                      print the last run's summary
  predict  [--model DIR|FILE.tflite] [--json] IMAGE|FOLDER...  classify images with a pushed
           model (default: the newest version under the config's serving dir); a folder means
           the images under it; unreadable images are named on stderr (exit 2), the rest printed
  beam-cluster up|start|stop|status [--state-dir DIR] [--set ...]              local Beam portable stack
  retrain  [--config ...] [--verbose] [--require-push]  train on the newest retrain.num_spans data
           spans, tested on the newest one's held-out images (cron-safe, locked)
  compile  --output FILE.json [--config ...]     KFP v2 / Vertex AI PipelineJob JSON (no other flag
           is needed: without vertex.pipeline_root a placeholder root is compiled, with a warning)
  run-compiled FILE.json [--param NAME=VALUE ...] [--span N] [--root DIR]
           execute the compiled spec on this machine, task by task, as Vertex would (no Docker,
           no cloud: each container runs in this environment; the step before submit)
  submit   [--template FILE.json] [--param NAME=VALUE ...] [--span N] [--dry-run] [--config ...]
  schedule [--cron 'EXPR'] [--template ...] [--param ...] [--dry-run] [--config ...]

Exit codes: 0 done, 2 config error (or a missing/undecodable image or model for predict), 3
another run holds the outputs' lock, 4 the data or model was refused (image tree, anomalies,
parity gate; message printed) or the serving dir is full or not writable, 5 Vertex AI
unreachable or refused the request (e.g. no credentials), 6 run/retrain --require-push
finished without a pushed model (not blessed is a normal outcome otherwise: exit 0), 130
interrupted (Ctrl-C; run/retrain publish a version only whole), 143 run/retrain terminated
(SIGTERM: docker stop, systemctl stop; as Ctrl-C), 1 any other failure (traceback in logs/;
run-compiled: a task failed, its log named).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
import warnings
from typing import List, Optional

STARTED = time.time()  # the CLI's start (heavy imports come later): what "wall time" counts from
# google.api_core (imported through TFX) warns on every import that it will stop supporting
# Python 3.11 in 2027: not about anything the user asked for; `predict` printed it.
warnings.filterwarnings("ignore", message="You are using a Python version",
                        category=FutureWarning, module=r"google\.api_core")
# The pinned stack's own version notices, printed on import by `compile` and `submit`: nothing
# the user can act on (the lock pins google-cloud-storage < 3 for TFX 1.16).
warnings.filterwarnings("ignore", message="Support for google-cloud-storage < 3.0.0",
                        category=FutureWarning)


class _DropCrcmodNotice(logging.Filter):
    """Beam logs that crcmod is missing on every import; it only speeds up GCS checksums."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("crcmod package not found")


logging.getLogger().addFilter(_DropCrcmodNotice())


def _wall_time(summary, metadata_path: str) -> str:
    """'wall time: <since the CLI started> s (pipeline <the runner's own> s); MLMD: <path>'."""
    return (f"wall time: {time.time() - STARTED:.1f} s (pipeline {summary['wall_seconds']} s); "
            f"MLMD: {metadata_path}")


def _config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="YAML file overriding the profile's defaults")
    from pipeline.config.schema import PROFILES
    p.add_argument("--profile", choices=list(PROFILES), help="default: quick")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one key, e.g. --set trainer.epochs=2 (repeatable)")


def _verbose_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--verbose", action="store_true",
                   help="print the full TensorFlow/TFX/Beam stream instead of one line per "
                        "component (default: that stream goes to <output.root>/logs/run-*.log)")


def _terminate_as_interrupt() -> List[bool]:
    """Makes SIGTERM (docker stop, systemctl stop, a CI job cancelled) raise KeyboardInterrupt in
    this process, as Ctrl-C does, so a terminated run marks its executions CANCELED, removes
    its staging dir and prints one line (helper-62: it exited 143 without a word). Returns a
    list whose first item becomes True when SIGTERM arrived. The previous handler comes back
    when the process's main() returns (`_restore_sigterm`)."""
    import signal
    arrived = [False]

    def handler(signum, frame):  # pylint: disable=unused-argument
        arrived[0] = True
        raise KeyboardInterrupt
    _SAVED_SIGTERM.append(signal.signal(signal.SIGTERM, handler))
    return arrived


_SAVED_SIGTERM: List = []


def _restore_sigterm() -> None:
    import signal
    while _SAVED_SIGTERM:
        signal.signal(signal.SIGTERM, _SAVED_SIGTERM.pop())


def _require_push_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--require-push", action="store_true",
                   help="exit 6 when the run finishes without a pushed model (not blessed, or "
                        "no variant passed the gates), for scripts; a re-run whose unchanged "
                        "model is already pushed counts as pushed")


def _record_refusal(args: argparse.Namespace, argv: List[str], message: str) -> None:
    """A run or retrain refused with a config error: recorded under its output root when that
    already holds runs (pipeline/run_history.record_refusal), so that `report` and logs/ show
    it. The output root is found without the data checks that refused it; never raises."""
    from pipeline.config import load_config
    from pipeline.run_history import record_refusal
    try:
        config = load_config(args.config, args.profile, args.overrides, check_paths=False)
        record_refusal(config.output_root, " ".join(["python -m pipeline"] + argv),
                       message.replace("\n", " "), 2)
    except Exception:  # pylint: disable=broad-except  (the refusal is what to report)
        pass


def _logged_exit(summary, text: str, code: int) -> int:
    """Appends what the console was told and the exit code to the run's log file
    (`summary['run_log']`; none with --verbose), so that logs/ alone says how each run ended
    (helper-67); returns `code`. A log that cannot be written is not the run's failure."""
    path = summary.get("run_log")
    if path:
        try:
            with open(path, "a", encoding="utf-8") as f:
                f.write(f"\n=== outcome (as printed) ===\n{text.strip()}\nexit code {code}\n")
        except OSError:
            pass
    return code


def _push_exit(summary, required: bool) -> int:
    """0, or 6 with a line on stderr when `required` and the run pushed no model."""
    if not required or summary.get("pushed"):
        return 0
    why = ("not blessed" if not summary.get("blessed")
           else "blessed, but the ExportPusher pushed nothing")
    print(f"error: --require-push: the run finished and pushed no model ({why}; see the summary "
          f"above); the previously pushed versions are unchanged", file=sys.stderr)
    return 6


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipeline", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run the pipeline locally (LocalDagRunner)")
    _config_args(r)
    _verbose_arg(r)
    _require_push_arg(r)
    _config_args(sub.add_parser("validate", help="load and validate the config, print it"))
    _config_args(sub.add_parser("report", help="print the last run's summary from MLMD"))
    pr = sub.add_parser("predict", help="classify image files with a pushed model (SavedModel "
                        "via serving_default, or a .tflite in standalone LiteRT)")
    pr.add_argument("images", nargs="*", metavar="IMAGE",
                    help="image files (PNG/JPEG/GIF/BMP) or folders (their images, recursively)")
    pr.add_argument("--model", help="a pushed version directory, a SavedModel directory or a "
                    ".tflite file (default: the newest version under the serving dir)")
    pr.add_argument("--json", action="store_true", help="print JSON instead of lines")
    _config_args(pr)
    bc = sub.add_parser("beam-cluster", help="a local Beam portable stack (worker pool + job "
                        "service) for beam.runner=portable")
    bc.add_argument("action", choices=["up", "start", "stop", "status"],
                    help="up: foreground until Ctrl-C; start: background; stop; status")
    bc.add_argument("--state-dir", default=None, help="pids, ports and logs (default: "
                    "$TMPDIR/tfx-beam-cluster)")
    bc.add_argument("--smoke-timeout", type=float, default=120.0,
                    help="seconds a 3-element test job may take before start fails")
    _config_args(bc)  # beam.portable.bind_address (default: loopback only)
    rt = sub.add_parser("retrain", help="retrain on the newest retrain.num_spans spans, the "
                        "newest one's held-out images as test (cron / systemd timer safe: a "
                        "second run exits at once)")
    _config_args(rt)
    _verbose_arg(rt)
    _require_push_arg(rt)
    c = sub.add_parser("compile", help="compile for Kubeflow Pipelines v2 / Vertex AI (JSON)",
                       description="Only --output is needed: without vertex.pipeline_root a "
                       "placeholder root is compiled (run-compiled runs it; submit/schedule need "
                       "--set vertex.pipeline_root=gs://BUCKET/PATH), with a warning.")
    c.add_argument("--output", required=True, metavar="FILE.json", help="where to write the spec")
    _config_args(c)
    rc = sub.add_parser("run-compiled", help="execute a compiled spec locally, task by task, "
                        "as Vertex would (each container in this environment)")
    rc.add_argument("spec", metavar="FILE.json", help="the `compile` output")
    rc.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                    help="runtime parameter value: data_root, range_config, eval_config, "
                         "trainer_custom_config, serving_dir (repeatable)")
    rc.add_argument("--span", type=int, help="read this span (default: the newest)")
    rc.add_argument("--root", metavar="DIR", help="local pipeline root, artifact registry (the "
                    "resolvers' ML Metadata) and logs (default: outputs/compiled/<pipeline name>)")
    for name, text in (("submit", "submit one run to Vertex AI Pipelines"),
                       ("schedule", "create a Vertex AI pipeline job schedule (cron)")):
        v = sub.add_parser(name, help=text)
        if name == "schedule":
            v.add_argument("--cron", help="unix-cron expression, e.g. '0 3 * * *' (optional "
                           "'CRON_TZ=Europe/Berlin ' prefix); default: vertex.cron")
        v.add_argument("--template", metavar="FILE.json",
                       help="a compiled spec (default: compile the config now)")
        v.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                       help="runtime parameter value: data_root, range_config, eval_config, "
                            "trainer_custom_config, serving_dir (repeatable)")
        if name == "submit":
            v.add_argument("--span", type=int, help="read this span (default: the newest)")
        v.add_argument("--dry-run", action="store_true",
                       help="print the exact request as JSON; needs no credentials, sends nothing")
        _config_args(v)
    w = sub.add_parser("weights", help="provision ImageNet VGG16 weights (offline capable)")
    w.add_argument("--weights-file", help="use this .h5 instead of downloading")
    w.add_argument("--cache-dir", help="where to keep the weights file")
    w.add_argument("--offline", action="store_true", help="skip the Keras download attempt")
    return parser


# Commands whose output is the answer (or a spec) alone: TensorFlow's C++ start-up lines
# (TensorRT not found, "Unable to register cuDNN factory", all harmless on CPU) are silenced
# unless the user set a level, and the known harmless ones even then (console.STARTUP_NOISE).
_QUIET_TF_COMMANDS = ("predict", "report", "compile", "submit", "schedule")


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command in _QUIET_TF_COMMANDS:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        # TensorFlow's Python-side notices (e.g. TFMA's reader: "tf_record_iterator is
        # deprecated") are about the stack, not the command's answer
        logging.getLogger("tensorflow").setLevel(logging.ERROR)
        from pipeline.console import import_tensorflow_quietly
        import_tensorflow_quietly()  # its CUDA-registration lines show even at level 2
    from pipeline.config import ConfigError, load_config
    from pipeline.run_lock import AlreadyRunningError
    from pipeline.vertex import VertexError

    terminated: List[bool] = []
    try:
        if args.command == "beam-cluster":
            from pipeline import beam_cluster
            from pipeline.beam_args import bind_address
            config = load_config(args.config, args.profile, args.overrides, check_paths=False)
            return beam_cluster.main(args.action, args.state_dir or beam_cluster.DEFAULT_STATE_DIR,
                                     args.smoke_timeout, bind_address(config.beam))
        if args.command == "weights":
            from pipeline.weights import provision_command
            return provision_command(weights_file=args.weights_file or None,
                                     cache_dir=args.cache_dir or None, offline=args.offline)
        if args.command == "predict":
            return _predict(args)
        if args.command == "run-compiled":
            return _run_compiled(args)
        # `report` describes a past run: the image files' headers (read by every command that
        # trains) are not its business; the tree's layout is still checked (class discovery)
        config = load_config(args.config, args.profile, args.overrides,
                             check_files=args.command != "report")
        if args.command in ("run", "retrain", "validate"):
            from pipeline.config.validate import validate_writable
            validate_writable(config)  # commands that write outputs (not report, predict)
            litert = _check_litert(config, args.command)
        if args.command == "validate":
            from pipeline.config.validate import data_overview
            print(json.dumps(config.to_dict(), indent=2))
            # On stderr: stdout stays the config's JSON for scripts.
            print("\n".join(data_overview(config) + [litert]), file=sys.stderr)
            return 0
        if args.command == "report":
            if not os.path.exists(config.metadata_path):
                print(f"error: no run under {config.output_root} yet (no MLMD at "
                      f"{config.metadata_path}): give `report` the --config / --set of the run "
                      f"or retrain whose output root it is, or run one first (`python -m "
                      f"pipeline run` with these)", file=sys.stderr)
                return 2
            from pipeline.lineage import summary_lineage
            from pipeline.summary import format_summary, report_notes, run_summary
            summary = run_summary(config.metadata_path, list(config.data.class_names))
            summary["lineage"] = summary_lineage(config)
            summary["serving_dir"] = config.serving_dir
            notes = report_notes(summary, config.output_root)
            if not summary["evaluated"]:  # no metrics or gates: what happened, and the data
                from pipeline.summary import format_data_report
                print("\n".join(notes + format_data_report(summary.get("data") or {})))
                return 0
            from pipeline.retrain import trainer_lines
            print("\n".join(notes + [format_summary(summary)]
                            + trainer_lines(summary["lineage"])))
            return 0
        if args.command in ("compile", "submit", "schedule"):
            return _kubeflow_command(args, config)
        # gRPC servers Beam may start in this process (a LOOPBACK-environment worker pool,
        # multi_processing workers' control/data servers) bind loopback only (docs/security.md).
        from pipeline.beam_launcher import install_bind_hook
        install_bind_hook(public_port=0)
        if config.beam.runner == "portable":  # fail in seconds, not ~300 s, if workers can't start
            from pipeline.beam_cluster import BeamClusterError, preflight
            try:
                preflight(config.beam_pipeline_args)
            except BeamClusterError as e:
                print(f"error: beam.runner=portable: {e}", file=sys.stderr)
                return 1
        terminated = _terminate_as_interrupt()  # SIGTERM takes Ctrl-C's way out
        if args.command == "retrain":
            from pipeline.retrain import check_span_layout, format_retrain, retrain
            from pipeline.summary import format_summary
            check_span_layout(config)
            summary = retrain(config, quiet=not args.verbose)
            summary["serving_dir"] = config.serving_dir  # which version is served, if none pushed
            text = "\n".join([format_summary(summary), format_retrain(summary),
                              _wall_time(summary, config.metadata_path)])
            print(text)
            return _logged_exit(summary, text, _push_exit(summary, args.require_push))
        from pipeline.local_runner import run
        from pipeline.summary import format_summary
        summary = run(config, quiet=not args.verbose)
        summary["serving_dir"] = config.serving_dir  # which version is served, if none pushed
        text = "\n".join([format_summary(summary), _wall_time(summary, config.metadata_path)])
        print(text)
        return _logged_exit(summary, text, _push_exit(summary, args.require_push))
    except ConfigError as e:
        print(f"config error: {e}", file=sys.stderr)
        if args.command in ("run", "retrain"):
            _record_refusal(args, sys.argv[1:] if argv is None else list(argv),
                            f"config error: {e}")
        return 2
    except AlreadyRunningError as e:
        print(f"error: {e}", file=sys.stderr)
        return 3
    except VertexError as e:
        print(f"error: {e}", file=sys.stderr)
        return 5
    except KeyboardInterrupt:  # Ctrl-C: one line, not Beam's and TFX's stack
        by_term = bool(terminated) and terminated[0]
        print(("terminated (SIGTERM)" if by_term else "interrupted")
              + ("" if args.command not in ("run", "retrain") else
                 ": a model version is only ever published whole; this run's "
                 "unfinished steps are marked CANCELED and the next run reuses "
                 "every step that finished"), file=sys.stderr)
        return 143 if by_term else 130
    except Exception as e:  # pylint: disable=broad-except
        from pipeline.local_runner import RunFailedError
        if not isinstance(e, RunFailedError):
            raise
        full_log = f"; full log: {e.run_log}" if e.run_log else ""
        text = f"error: {e}\n(full traceback: {e.log_path}{full_log})"
        print(text, file=sys.stderr)
        return _logged_exit({"run_log": e.run_log}, text, 4 if e.known else 1)
    finally:
        _restore_sigterm()


def _check_litert(config, command: str) -> str:
    """The ExportPusher checks every .tflite in standalone LiteRT: fail before any work when its
    environment is missing. Returns the line naming the interpreter that will be used."""
    from modules.litert import ENV_VAR, LiteRTUnavailableError, litert_python
    from pipeline.config import ConfigError
    try:
        path = litert_python(config.export.litert_python)
    except LiteRTUnavailableError as e:
        hint = (" (validate checks a local run; a config meant only for Vertex AI is checked by "
                "`compile`, whose container brings LiteRT)" if command == "validate" else "")
        raise ConfigError(f"export.litert_python: {e}{hint}") from None
    source = (f"${ENV_VAR}, which overrides export.litert_python" if os.environ.get(ENV_VAR)
              else "export.litert_python")
    return f"LiteRT (the parity gate's runtime): {path} (from {source})"


def _predict(args: argparse.Namespace) -> int:
    from pipeline.config import load_config
    from pipeline.predict import PredictError, format_predictions, predict
    config = load_config(args.config, args.profile, args.overrides, check_paths=False)
    skipped: list = []
    notes: list = []
    try:
        model_path, predictions, problems = predict(args.images, args.model, config.serving_dir,
                                                    config.data.max_image_pixels,
                                                    config.export.litert_python, skipped, notes,
                                                    config.metadata_path)
    except PredictError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({"model": model_path, "predictions": [p.__dict__ for p in predictions],
                          "errors": problems}, indent=2))
    else:
        print(format_predictions(model_path, predictions))
    from pipeline.data_layout import rotated_by_exif
    for note in rotated_by_exif("", {"images": [p.path for p in predictions]}):
        print(f"note: {note}", file=sys.stderr)  # phone photos stored sideways
    for note in notes:
        print(f"warning: {note}", file=sys.stderr)
    if skipped:
        print(f"note: skipped {len(skipped)} file(s) without an image extension in the folder(s): "
              + ", ".join(skipped[:5]) + (" ..." if len(skipped) > 5 else ""), file=sys.stderr)
    for problem in problems:  # the readable images were classified; these were not
        print(f"error: {problem}", file=sys.stderr)
    return 2 if problems else 0


def _run_compiled(args: argparse.Namespace) -> int:
    """run-compiled: the compiled spec executed locally (pipeline/compiled_runner/)."""
    import os

    from pipeline import vertex
    from pipeline.compiled_runner import CompiledRunError, format_result, run_compiled
    from pipeline.config import REPO_ROOT, ConfigError
    from pipeline.kubeflow_v2_runner import load_job
    if not os.path.isfile(args.spec):
        raise ConfigError(f"{args.spec}: no such file (make one with `python -m pipeline compile "
                          f"--output {args.spec}`)")
    job = load_job(args.spec)
    values = vertex.parse_parameters(args.param, args.span, vertex.template_parameters(job))
    name = job.get("pipelineSpec", {}).get("pipelineInfo", {}).get("name", "pipeline")
    root = args.root or os.path.join(REPO_ROOT, "outputs", "compiled", name)
    try:
        result = run_compiled(args.spec, values, root)
    except CompiledRunError as e:
        print(format_result(e.result), file=sys.stderr)
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(format_result(result))
    return 0


def _kubeflow_command(args: argparse.Namespace, config) -> int:
    """compile / submit / schedule (Kubeflow Pipelines v2, Vertex AI)."""
    from pipeline import vertex
    from pipeline.config import ConfigError
    if args.command == "schedule":  # checked before anything is compiled or sent
        cron = vertex.validate_cron(args.cron or config.vertex.cron)
    if args.command == "compile":
        from pipeline.kubeflow_v2_runner import compile_pipeline, compile_warnings, pipeline_root
        job = compile_pipeline(config, args.output)
        tasks = sorted(job["pipelineSpec"]["root"]["dag"]["tasks"])
        for warning in compile_warnings(config):
            print(warning, file=sys.stderr)
        print(f"wrote {args.output}: {len(tasks)} tasks, image {config.vertex.default_image}, "
              f"pipeline root {pipeline_root(config)}")
        return 0
    # Checked before compiling (seconds to minutes): the project, the image and the pipeline root
    # when the config is compiled now, and credentials unless dry run.
    data_param = any(p.startswith("data_root=") for p in args.param or [])
    problems = vertex.target_problems(config, compiling=not args.template,
                                      scheduling=args.command == "schedule" and not data_param)
    if problems:  # all of them at once, each naming its key
        raise ConfigError("\n  ".join(problems))
    if not args.dry_run:
        vertex.credentials()
    template = vertex.resolve_template(config, args.template)
    from pipeline.kubeflow_v2_runner import load_job
    job = load_job(template)
    values = vertex.parse_parameters(args.param, getattr(args, "span", None),
                                     vertex.template_parameters(job))
    vertex.check_cloud_paths(job, values)  # a local-check spec would fail on Vertex, paid
    if args.command == "schedule":
        vertex.check_scheduled_data(job, values)  # the same images at every tick
    if args.command == "submit":
        result = vertex.submit(config, template, values, dry_run=args.dry_run)
    else:
        result = vertex.create_schedule(config, template, cron, values, dry_run=args.dry_run)
    if args.dry_run:
        print(json.dumps(result, indent=2, sort_keys=True))
    else:
        what = "pipeline job" if args.command == "submit" else "schedule"
        print(f"created {what} {result['name']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
