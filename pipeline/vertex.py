"""Submit the compiled pipeline to Vertex AI Pipelines, or schedule it with a cron expression.

  python -m pipeline submit   [--template FILE.json] [--param NAME=VALUE ...] [--span N] [--dry-run]
  python -m pipeline schedule [--cron EXPR] [--template FILE.json] [--param ...] [--dry-run]

Both build an `aiplatform.PipelineJob` from the PipelineJob JSON (`compile` output; compiled from
the config when --template is not given). `submit` sends it (CreatePipelineJob); `schedule` creates
a Vertex pipeline job schedule (CreateSchedule, as `PipelineJob.create_schedule` does) that starts a
run at every cron tick, at most `vertex.max_concurrent_run_count` (default 1) at a time: scheduled
runs never overlap. Each scheduled run reads the newest span (`range_config` '').

`--dry-run` needs no credentials and sends nothing: the SDK builds the request as usual, with
anonymous credentials and an API client that records the call instead of making it, and the
request is printed as JSON. Without --dry-run, missing credentials or a refused request is one
line on stderr (exit code 5), never a traceback. The cron expression is checked before any of it.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
from typing import Any, Dict, Iterator, List, Optional

from pipeline.config import ConfigError, PipelineConfig
from pipeline.cron import validate_cron  # noqa: F401  (re-exported: the CLI checks it here)

CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"


class VertexError(RuntimeError):
    """Vertex AI could not be reached or refused the request (one-line message)."""


def parse_parameters(items: List[str], span: Optional[int],
                     known: Dict[str, Any]) -> Dict[str, Any]:
    """`--param NAME=VALUE` items (and `--span N`) -> parameter_values, checked against the
    template's runtime parameters."""
    values: Dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--param {item!r}: expected NAME=VALUE")
        name, value = item.split("=", 1)
        if name not in known:
            raise ConfigError(f"--param {name}: not a runtime parameter of the pipeline (known: "
                              f"{', '.join(sorted(known))})")
        values[name] = value
    if span is not None:
        if span < 0:
            raise ConfigError(f"--span {span}: expected a span number >= 0")
        values["range_config"] = json.dumps({"static_range": {
            "start_span_number": span, "end_span_number": span}})
    return values


def check_cloud_paths(job: Dict[str, Any], values: Dict[str, Any]) -> None:
    """ConfigError for a spec whose data_root, serving_dir or weights_path (as `values` or the
    job's runtimeConfig give them) is a path of this machine: compiled for `run-compiled` (a
    local check), it would start a paid Vertex run that fails in its first task. Vertex reads
    gs://, its FUSE mount /gcs/ and the image's own files."""
    from pipeline.kubeflow_v2_runner import cloud_or_image_path, spec_paths
    fixes = {"data_root": "pass --param data_root=gs://... or compile with vertex.data_root at "
                          "its image default or a gs:// path",
             "serving_dir": "pass --param serving_dir=/gcs/... or compile with "
                            "vertex.serving_dir unset (it follows the pipeline root)"}
    for what, path in spec_paths(job, effective_parameters(job, values)):
        if not isinstance(path, str) or cloud_or_image_path(path):
            continue
        fix = fixes.get(what, "compile with vertex.weights_path at its image default "
                              "(/app/weights/...) or a /gcs/ path")
        raise ConfigError(f"{what} is {path}, a path on this machine that Vertex AI cannot "
                          f"read: this spec was compiled for a local check (`run-compiled`); "
                          f"{fix}")


def effective_parameters(job: Dict[str, Any], values: Dict[str, Any]) -> Dict[str, Any]:
    """The runtime parameters a run of `job` gets: the spec's defaults, then its runtimeConfig's
    values, then `values` (--param, --span)."""
    defaults = {name: spec.get("defaultValue") for name, spec in
                template_parameters(job).items() if "defaultValue" in spec}
    return {**defaults, **(job.get("runtimeConfig") or {}).get("parameterValues", {}), **values}


def template_parameters(job: Dict[str, Any]) -> Dict[str, Any]:
    return dict(job.get("pipelineSpec", {}).get("root", {}).get("inputDefinitions", {})
                .get("parameters", {}))


# ----------------------------------------------------------------------------- requests


class _Captured(Exception):
    """Raised by the recording client: the request was built and not sent."""


class _RecordingClient:
    """Stands in for the SDK's GAPIC client in --dry-run: records the first call, sends nothing."""

    def __init__(self) -> None:
        self.method: Optional[str] = None
        self.kwargs: Dict[str, Any] = {}

    def __getattr__(self, method: str):
        def call(**kwargs):
            self.method, self.kwargs = method, kwargs
            raise _Captured(method)
        return call


def credentials(dry_run: bool = False):
    """Anonymous credentials for a dry run; else Application Default Credentials, or VertexError."""
    if dry_run:
        from google.auth.credentials import AnonymousCredentials
        return AnonymousCredentials()
    import google.auth
    from google.auth import exceptions as auth_exceptions
    try:
        found, _ = google.auth.default(scopes=[CLOUD_PLATFORM_SCOPE])
    except auth_exceptions.DefaultCredentialsError:
        raise VertexError(
            "no Google Cloud credentials found: run `gcloud auth application-default login` or "
            "set GOOGLE_APPLICATION_CREDENTIALS to a service-account key file (use --dry-run to "
            "print the request without sending it)") from None
    return found


def check_target(config: PipelineConfig) -> None:
    """ConfigError naming the first of `target_lines`."""
    problems = target_lines(config)
    if problems:
        raise ConfigError(problems[0])


def target_lines(config: PipelineConfig) -> List[str]:
    """What the project, region and pipeline root settings lack, one line each."""
    v = config.vertex
    problems = []
    if not v.project:
        problems.append("vertex.project: set the Google Cloud project id (e.g. "
                        "--set vertex.project=my-project)")
    if not v.region:
        problems.append("vertex.region: set the Vertex AI region (e.g. us-central1)")
    if v.pipeline_root and not v.pipeline_root.startswith("gs://"):
        problems.append(f"vertex.pipeline_root: expected gs://bucket/path, got "
                        f"{v.pipeline_root!r}")
    return problems


def target_problems(config: PipelineConfig, compiling: bool, scheduling: bool = False
                    ) -> List[str]:
    """Every vertex.* setting a submit or schedule lacks, one line each ('vertex.<key>: ...'),
    so that a user fixes them in one go (helper-59 needed three tries): `target_lines`, and when
    `compiling` (no --template) a pullable image and a pipeline root at all, and for
    `scheduling` a data root outside the image (`check_scheduled_data`'s rule, before any
    compile; helper-64 met it only on a second try)."""
    problems = target_lines(config)
    if compiling and scheduling:
        from pipeline.kubeflow_v2_runner import IMAGE_WORKDIR, image_data_root
        try:
            root = image_data_root(config)
        except ConfigError as e:
            problems.append(str(e))
        else:
            if root.startswith(IMAGE_WORKDIR + "/"):
                problems.append(f"vertex.data_root: unset, so a schedule would read {root}, a "
                                f"folder inside the pipeline image, fixed when the image was "
                                f"built (every scheduled run would ingest the same images): "
                                f"set it to where new spans arrive, e.g. --set "
                                f"vertex.data_root=gs://bucket/path (or pass --param "
                                f"data_root=gs://bucket/path)")
    if compiling:
        for check in (lambda: check_image(config.vertex.default_image),
                      lambda: None if config.vertex.pipeline_root else
                      run_pipeline_root(config, {})):
            try:
                check()
            except ConfigError as e:
                problems.append(str(e))
    return problems


def check_scheduled_data(job: Dict[str, Any], values: Dict[str, Any]) -> None:
    """ConfigError when a schedule's data_root (as `values` or the template give it) is a folder
    inside the pipeline image: its images are fixed when the image is built, so every scheduled
    run would train on the same data and never see a new span (helper-59)."""
    from pipeline.kubeflow_v2_runner import IMAGE_WORKDIR
    root = effective_parameters(job, values).get("data_root")
    if isinstance(root, str) and (root == IMAGE_WORKDIR or root.startswith(IMAGE_WORKDIR + "/")):
        raise ConfigError(f"data_root is {root}, a folder inside the pipeline image, fixed when "
                          f"the image was built: every scheduled run would ingest the same "
                          f"images. Put the data where new spans arrive and compile with "
                          f"--set vertex.data_root=gs://bucket/path (or pass --param "
                          f"data_root=gs://bucket/path)")


def check_image(image: str) -> None:
    """ConfigError unless Vertex AI can pull `image` (a reference with a registry host)."""
    from pipeline.kubeflow_v2_runner import image_problem
    problem = image_problem(image) if image else "is empty"
    if problem:
        raise ConfigError(f"vertex.default_image: {problem}")


def run_pipeline_root(config: PipelineConfig, job: Dict[str, Any]) -> str:
    """The pipeline root a run of `job` uses: vertex.pipeline_root, else the template's
    gcsOutputDirectory; ConfigError when neither is a real root (not set, or the placeholder
    `compile` uses without one)."""
    from pipeline.kubeflow_v2_runner import PLACEHOLDER_PIPELINE_ROOT
    root = config.vertex.pipeline_root or job.get("runtimeConfig", {}).get(
        "gcsOutputDirectory", "")
    if not root or root == PLACEHOLDER_PIPELINE_ROOT:
        raise ConfigError("vertex.pipeline_root: set it to a gs://bucket/path for the artifacts of "
                          "Vertex runs (e.g. --set vertex.pipeline_root=gs://my-bucket/tfx); the "
                          "template has none")
    return root


def prepare_run(config: PipelineConfig, job: Dict[str, Any],
                parameter_values: Dict[str, Any]) -> Dict[str, Any]:
    """Checks a template before it is sent (every image pullable, a real pipeline root) and
    returns the parameter values with `serving_dir` following the run's pipeline root."""
    from pipeline.kubeflow_v2_runner import follow_serving_dir, template_images
    for image in template_images(job):
        check_image(image)
    return follow_serving_dir(job, parameter_values, run_pipeline_root(config, job))


def build_pipeline_job(config: PipelineConfig, template_path: str,
                       parameter_values: Dict[str, Any], creds):
    """The `aiplatform.PipelineJob` for the template (built locally; nothing is sent)."""
    from google.cloud import aiplatform
    v = config.vertex
    return aiplatform.PipelineJob(
        display_name=v.display_name or config.pipeline_name,
        template_path=template_path,
        pipeline_root=v.pipeline_root or None,
        parameter_values=parameter_values or None,
        enable_caching=v.enable_caching,
        labels=dict(v.labels) or None,
        project=v.project, location=v.region, credentials=creds)


def _request_json(method: str, kwargs: Dict[str, Any], region: str) -> Dict[str, Any]:
    from google.cloud import aiplatform_v1
    from google.protobuf import json_format
    if method == "create_pipeline_job":
        request = aiplatform_v1.CreatePipelineJobRequest(
            parent=kwargs["parent"], pipeline_job=kwargs["pipeline_job"],
            pipeline_job_id=kwargs.get("pipeline_job_id") or "")
        rpc = "google.cloud.aiplatform.v1.PipelineService.CreatePipelineJob"
    elif method == "create_schedule":
        request = aiplatform_v1.CreateScheduleRequest(parent=kwargs["parent"],
                                                      schedule=kwargs["schedule"])
        rpc = "google.cloud.aiplatform.v1.ScheduleService.CreateSchedule"
    else:  # pragma: no cover - the SDK changed its call
        raise VertexError(f"dry run: unexpected API call {method}")
    return {"dry_run": True, "endpoint": f"{region}-aiplatform.googleapis.com", "rpc": rpc,
            # The canonical proto3 JSON mapping of the request (fields left at their defaults
            # are not sent, so not shown).
            "request": json_format.MessageToDict(type(request).pb(request))}


@contextlib.contextmanager
def _sdk_logging_off() -> Iterator[None]:
    loggers = [logging.getLogger(name) for name in list(logging.root.manager.loggerDict)
               if name.startswith("google.cloud.aiplatform")]
    before = [lg.disabled for lg in loggers]
    for lg in loggers:
        lg.disabled = True
    try:
        yield
    finally:
        for lg, disabled in zip(loggers, before):
            lg.disabled = disabled


def _send(action, dry_run: bool, client_owner, region: str) -> Dict[str, Any]:
    """Runs `action()` (the SDK call); in dry-run with a recording client. Returns the request
    JSON (dry run) or {'name': resource name}."""
    if dry_run:
        recorder = _RecordingClient()
        client_owner.api_client = recorder
        try:
            with _sdk_logging_off():  # the SDK logs "Creating PipelineJob" to stdout
                action()
        except _Captured:
            return _request_json(recorder.method, recorder.kwargs, region)
        raise VertexError("dry run: the SDK made no API call")  # pragma: no cover
    from google.api_core import exceptions as api_exceptions
    from google.auth import exceptions as auth_exceptions
    try:
        action()
    except (api_exceptions.GoogleAPIError, auth_exceptions.GoogleAuthError) as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise VertexError(f"Vertex AI refused the request: {type(e).__name__}: {first}") from None
    return {"name": client_owner.resource_name}


def submit(config: PipelineConfig, template_path: str, parameter_values: Dict[str, Any],
           dry_run: bool = False) -> Dict[str, Any]:
    """CreatePipelineJob for the template (`PipelineJob.submit`)."""
    check_target(config)
    parameter_values = prepare_run(config, _load(template_path), parameter_values)
    creds = credentials(dry_run)
    job = build_pipeline_job(config, template_path, parameter_values, creds)
    service_account = config.vertex.service_account or None

    def action():
        if dry_run:  # submit() first makes sure the pipeline root's bucket exists: not in a dry run
            from google.cloud.aiplatform.utils import gcs_utils
            real = gcs_utils.create_gcs_bucket_for_pipeline_artifacts_if_it_does_not_exist
            gcs_utils.create_gcs_bucket_for_pipeline_artifacts_if_it_does_not_exist = (
                lambda **kwargs: None)
            try:
                job.submit(service_account=service_account)
            finally:
                gcs_utils.create_gcs_bucket_for_pipeline_artifacts_if_it_does_not_exist = real
        else:
            job.submit(service_account=service_account)

    return _send(action, dry_run, job, config.vertex.region)


def create_schedule(config: PipelineConfig, template_path: str, cron: str,
                    parameter_values: Dict[str, Any], dry_run: bool = False) -> Dict[str, Any]:
    """CreateSchedule: a Vertex pipeline job schedule starting the template at each cron tick
    (what `PipelineJob.create_schedule(cron=...)` does, with these credentials)."""
    cron = validate_cron(cron)
    check_target(config)
    parameter_values = prepare_run(config, _load(template_path), parameter_values)
    creds = credentials(dry_run)
    from google.cloud import aiplatform
    job = build_pipeline_job(config, template_path, parameter_values, creds)
    display_name = f"{config.vertex.display_name or config.pipeline_name}-schedule"
    schedule = aiplatform.PipelineJobSchedule(
        pipeline_job=job, display_name=display_name, credentials=creds,
        project=config.vertex.project, location=config.vertex.region)

    def action():
        schedule.create(cron=cron,
                        max_concurrent_run_count=config.vertex.max_concurrent_run_count,
                        service_account=config.vertex.service_account or None)

    return _send(action, dry_run, schedule, config.vertex.region)


def _load(template_path: str) -> Dict[str, Any]:
    from pipeline.kubeflow_v2_runner import load_job
    return load_job(template_path)


def resolve_template(config: PipelineConfig, template: Optional[str]) -> str:
    """--template as given, else the config compiled to <output.root>/vertex/<name>.json."""
    if template:
        if not os.path.isfile(template):
            raise ConfigError(f"--template {template}: no such file (make one with "
                              f"`python -m pipeline compile --output {template}`)")
        return template
    from pipeline.kubeflow_v2_runner import compile_pipeline
    path = os.path.join(config.output_root, "vertex", f"{config.pipeline_name}.json")
    compile_pipeline(config, path)
    return path
