"""`up`, `run` and `submit`: roles and code in place, then a cluster (and/or a step) with the requested settings.

The cluster's nodes can reach bucket B only (their role says so), so the photos, the outputs and an s3:// weights
file must all be in B; this is checked here, before anything costs money.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..storage import is_s3, scheme, split_s3
from . import emr as emr_api
from .bucket import CODE_PREFIX, bucket_kms_key, require_bucket, validate_bucket_name
from .changes import Change
from .cluster import BUCKET_TAG, ClusterSpec, run_job_flow_request, spark_step
from .errors import AwsRequestError, ClusterStateError, LocationError, error_code, error_message
from .package import CodeLocations, code_files
from .pricing import hourly_cost
from .roles import SERVICE_ROLE, ensure_emr_roles, instance_role_name
from .upload import LocalFile, UploadReport, upload_files
from .waiting import DEFAULT_WAITS, Waits

# `fruits run` flags passed through to the step (the same names as on `fruits run`).
RUN_FLAGS = ("weights", "image_size", "variance", "k", "engine", "batch_size", "max_bytes", "max_pixels")


@dataclass
class Prepared:
    code: CodeLocations
    changes: list[Change] = field(default_factory=list)
    upload: UploadReport = field(default_factory=UploadReport)


@dataclass
class Started:
    cluster_id: str
    spec: ClusterSpec
    per_hour: float | None
    prepared: Prepared
    step_id: str | None = None


def check_in_bucket(bucket: str, what: str, location: str) -> None:
    if not is_s3(location):
        raise LocationError(f"{what} {location!r} must be an s3:// URI in bucket {bucket} (the cluster reads S3 only)")
    found, _ = split_s3(location)
    if found != bucket:
        raise LocationError(
            f"{what} {location} is in bucket {found}, but the cluster's role reaches bucket {bucket} only"
        )


def run_arguments(bucket: str, input_uri: str, output_uri: str, flags: Mapping[str, Any]) -> list[str]:
    """`fruits run` arguments for the step, validated here with the same rules as on the cluster."""
    from ..config import build_run_config

    check_in_bucket(bucket, "INPUT", input_uri)
    check_in_bucket(bucket, "OUTPUT", output_uri)
    weights = flags.get("weights")
    if weights and scheme(weights) is not None:
        check_in_bucket(bucket, "--weights", weights)
    elif weights and weights not in ("imagenet", "auto") and not weights.startswith("random"):
        raise LocationError(
            f"--weights {weights} is a local file, which the cluster cannot read: upload it with "
            f"`fruits cloud upload` and pass its s3://{bucket}/... URI"
        )
    # Same validation as `fruits run` (bad values fail here, not after a cluster has started); no FRUITS_* env.
    build_run_config({**flags, "input": input_uri, "output": output_uri, "master": "yarn"}, env={}, file_values={})
    args = [input_uri, output_uri, "--master", "yarn"]
    for name in RUN_FLAGS:
        value = flags.get(name)
        if value is not None:
            args += ["--" + name.replace("_", "-"), str(value)]
    if flags.get("overwrite"):
        args.append("--overwrite")
    return args


def prepare(s3, iam, bucket: str, region: str, wheel: Path, waits: Waits = DEFAULT_WAITS) -> Prepared:
    """The bucket must be ready; roles are created when missing; the code is uploaded when it changed."""
    require_bucket(s3, bucket, region)
    kms_key = bucket_kms_key(s3, bucket)
    changes = ensure_emr_roles(iam, bucket, kms_key, waits)
    files = [LocalFile(path, CODE_PREFIX + name, path.stat().st_size) for name, path in code_files(wheel).items()]
    report = upload_files(s3, bucket, files, workers=3, listing_prefix=CODE_PREFIX)
    return Prepared(code=CodeLocations(bucket, wheel.name), changes=changes, upload=report)


def cluster_spec(bucket: str, region: str, code: CodeLocations, **settings: Any) -> ClusterSpec:
    validate_bucket_name(bucket)
    return ClusterSpec(
        bucket=bucket, region=region, service_role=SERVICE_ROLE, instance_profile=instance_role_name(bucket),
        bootstrap_uri=code.bootstrap_uri, wheel_uri=code.wheel_uri,
        **{k: v for k, v in settings.items() if v is not None},
    ).validated()


def check_settings(bucket: str, region: str, **settings: Any) -> None:
    """Refuse bad cluster settings before anything is built, uploaded or started."""
    cluster_spec(bucket, region, CodeLocations(bucket, "fruits-check.whl"), **settings)


def _start(emr, spec: ClusterSpec, steps: list[dict[str, Any]]) -> str:
    try:
        return emr_api.run_job_flow(emr, run_job_flow_request(spec, steps))
    except emr.exceptions.ClientError as exc:
        if error_code(exc) == "ValidationException" and "profile" in error_message(exc).lower():
            raise AwsRequestError(
                f"EMR does not see the instance profile yet ({error_message(exc)}): IAM takes a few seconds to "
                "propagate new roles, run the command again"
            ) from None
        raise


def up(emr, s3, iam, bucket: str, region: str, wheel: Path, waits: Waits = DEFAULT_WAITS, **settings: Any) -> Started:
    """A long-lived cluster (until `down` or its idle timeout) ready for `submit`."""
    spec = cluster_spec(bucket, region, CodeLocations(bucket, wheel.name), keep_alive=True, **settings)
    prepared = prepare(s3, iam, bucket, region, wheel, waits)
    cluster_id = _start(emr, spec, [])
    return Started(cluster_id, spec, estimate(spec), prepared)


def run(
    emr, s3, iam, bucket: str, region: str, wheel: Path, input_uri: str, output_uri: str,
    run_flags: Mapping[str, Any], waits: Waits = DEFAULT_WAITS, **settings: Any,
) -> Started:
    """A transient cluster: it runs the one step and terminates itself (no idle cost at all)."""
    args = run_arguments(bucket, input_uri, output_uri, run_flags)
    spec = cluster_spec(bucket, region, CodeLocations(bucket, wheel.name), keep_alive=False, **settings)
    prepared = prepare(s3, iam, bucket, region, wheel, waits)
    step = spark_step(prepared.code.entry_uri, args, action_on_failure="TERMINATE_CLUSTER")
    cluster_id = _start(emr, spec, [step])
    step_ids = [s["Id"] for s in emr_api.list_steps(emr, cluster_id)] or [None]
    return Started(cluster_id, spec, estimate(spec), prepared, step_id=step_ids[0])


def estimate(spec: ClusterSpec) -> float | None:
    nodes = {spec.instance_type: 1 + spec.core_nodes}
    return hourly_cost(nodes, spec.region)


def cluster_bucket(cluster: Mapping[str, Any]) -> str:
    """The bucket a fruits cluster was started for (its fruits:bucket tag)."""
    for tag in cluster.get("Tags", []):
        if tag.get("Key") == BUCKET_TAG:
            return tag["Value"]
    raise ClusterStateError(
        f"cluster {cluster.get('Id')} was not started by `fruits cloud up` (no {BUCKET_TAG} tag): "
        "submit to a fruits cluster"
    )


def submit(emr, cluster_id: str, input_uri: str, output_uri: str, run_flags: Mapping[str, Any]) -> tuple[str, str]:
    """Add a `fruits run` step to a running fruits cluster; returns (step id, bucket)."""
    cluster = emr_api.describe_cluster(emr, cluster_id)
    state = cluster.get("Status", {}).get("State")
    if state not in ("STARTING", "BOOTSTRAPPING", "RUNNING", "WAITING"):
        raise ClusterStateError(f"cluster {cluster_id} is {state}: start one with `fruits cloud up`")
    bucket = cluster_bucket(cluster)
    args = run_arguments(bucket, input_uri, output_uri, run_flags)
    step = spark_step(CodeLocations(bucket, wheel_name="").entry_uri, args)
    return emr_api.add_job_flow_steps(emr, cluster_id, [step])[0], bucket
