"""`up`, `run` and `submit`: roles and code in place, then a cluster (and/or a step) with the requested settings.

The cluster's nodes can reach bucket B only (their role says so), so the photos, the outputs and an s3:// weights
file must all be in B; this is checked here, before anything costs money.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..storage import is_s3, scheme, split_s3
from . import emr as emr_api
from .bucket import CODE_PREFIX, bucket_kms_key, require_bucket, validate_bucket_name
from .changes import Change
from .cluster import BUCKET_TAG, ClusterSpec, run_job_flow_request, spark_step
from .errors import AwsRequestError, ClusterStateError, EncryptionError, LocationError, error_code, error_message
from .network import Placement, find_placement, tag_for_emr
from .package import CodeLocations, code_files
from .pricing import cluster_hourly_cost
from .roles import SERVICE_ROLE, ensure_emr_roles, instance_role_name
from .security import ensure_security_configuration, find_disk_key
from .upload import LocalFile, UploadReport, upload_files
from .waiting import DEFAULT_WAITS, Waits

# `fruits run` flags passed through to the step (the same names as on `fruits run`).
RUN_FLAGS = ("weights", "image_size", "feature_layer", "variance", "k", "engine", "batch_size", "max_bytes",
             "max_pixels")
# RunJobFlow right after the roles were created: EMR validates roles and profiles asynchronously and IAM takes
# seconds to a couple of minutes to propagate, so these refusals are retried (delays in seconds, ~2 minutes).
RETRY_DELAYS = (5, 10, 15, 20, 30, 40)
_PROPAGATION_HINTS = ("instance profile", "instanceprofile", "service role", "role", "not authorized", "passrole")


@dataclass
class Prepared:
    code: CodeLocations
    changes: list[Change] = field(default_factory=list)
    upload: UploadReport = field(default_factory=UploadReport)
    placement: Placement | None = None
    security_configuration: str | None = None
    disk_key: str | None = None


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
    if flags.get("incremental"):
        args.append("--incremental")
    return args


@dataclass(frozen=True)
class Clients:
    """The AWS clients `up` and `run` use (built at the edge)."""

    emr: Any
    s3: Any
    iam: Any
    ec2: Any
    kms: Any


def disk_key_for(kms, bucket: str, given: str | None, bucket_key: str | None) -> str:
    """--kms-key, else the key `init` made for the bucket, else the bucket's SSE-KMS key."""
    key = given or find_disk_key(kms, bucket) or bucket_key
    if key is None:
        raise EncryptionError(f"no KMS key to encrypt the cluster's disks: run `fruits cloud init --bucket {bucket}` "
                              "(it creates one) or pass --kms-key ARN")
    return key


def prepare(
    aws: Clients, bucket: str, region: str, wheel: Path, waits: Waits = DEFAULT_WAITS,
    subnet: str | None = None, kms_key: str | None = None, notebook: bool = False,
) -> Prepared:
    """The bucket must be ready and the subnet usable; roles, the subnet's tags and the security configuration
    are made when missing; the code is uploaded when it changed. Nothing here costs money by the hour."""
    require_bucket(aws.s3, bucket, region)
    bucket_key = bucket_kms_key(aws.s3, bucket)
    disk_key = disk_key_for(aws.kms, bucket, kms_key, bucket_key)
    placement = find_placement(aws.ec2, subnet)
    changes = ensure_emr_roles(aws.iam, bucket, bucket_key, waits, disk_key_arn=disk_key, ssm=notebook)
    config_change, config_name = ensure_security_configuration(aws.emr, bucket, disk_key)
    changes.append(config_change)
    changes += tag_for_emr(aws.ec2, placement)
    files = [LocalFile(path, CODE_PREFIX + name, path.stat().st_size) for name, path in code_files(wheel).items()]
    report = upload_files(aws.s3, bucket, files, workers=3, listing_prefix=CODE_PREFIX)
    return Prepared(code=CodeLocations(bucket, wheel.name), changes=changes, upload=report, placement=placement,
                    security_configuration=config_name, disk_key=disk_key)


def _placed(spec: ClusterSpec, prepared: Prepared) -> ClusterSpec:
    subnet = prepared.placement.subnet_id if prepared.placement else None
    return replace(spec, subnet_id=subnet, security_configuration=prepared.security_configuration).validated()


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


def is_propagation_error(exc: Exception) -> bool:
    """A RunJobFlow refusal that a few more seconds of IAM propagation cure (roles, profiles, PassRole)."""
    message = error_message(exc).lower()
    return error_code(exc) == "ValidationException" and any(hint in message for hint in _PROPAGATION_HINTS)


def start_cluster(
    emr, request: Mapping[str, Any], waits: Waits = DEFAULT_WAITS,
    sleep: Callable[[float], None] = time.sleep, on_retry: Callable[[str, float], None] | None = None,
) -> str:
    """RunJobFlow, retried with backoff (about 2 minutes) while EMR does not see new IAM roles yet."""
    for delay in (*RETRY_DELAYS, None):
        try:
            return emr_api.run_job_flow(emr, request)
        except emr.exceptions.ClientError as exc:
            if not is_propagation_error(exc):
                raise
            if delay is None or not waits.enabled:
                raise AwsRequestError(
                    f"EMR still refuses the roles after about {sum(RETRY_DELAYS)} s of retries "
                    f"({error_message(exc)}): IAM has not propagated them yet or they lack a permission; check "
                    "with `fruits cloud doctor` and run the command again"
                ) from None
            pause = delay if waits.delay is None else max(0, waits.delay)
            if on_retry:
                on_retry(error_message(exc), pause)
            sleep(pause)
    raise AssertionError("unreachable")  # pragma: no cover


def up(
    aws: Clients, bucket: str, region: str, wheel: Path, waits: Waits = DEFAULT_WAITS,
    subnet: str | None = None, kms_key: str | None = None, on_retry=None, **settings: Any,
) -> Started:
    """A long-lived cluster (until `down` or its idle timeout) ready for `submit`."""
    spec = cluster_spec(bucket, region, CodeLocations(bucket, wheel.name), keep_alive=True, **settings)
    prepared = prepare(aws, bucket, region, wheel, waits, subnet, kms_key, notebook=spec.notebook)
    spec = _placed(spec, prepared)
    cluster_id = start_cluster(aws.emr, run_job_flow_request(spec, []), waits, on_retry=on_retry)
    return Started(cluster_id, spec, estimate(spec), prepared)


def run(
    aws: Clients, bucket: str, region: str, wheel: Path, input_uri: str, output_uri: str,
    run_flags: Mapping[str, Any], waits: Waits = DEFAULT_WAITS, subnet: str | None = None,
    kms_key: str | None = None, on_retry=None, **settings: Any,
) -> Started:
    """A transient cluster: it runs the one step and terminates itself (no idle cost at all)."""
    args = run_arguments(bucket, input_uri, output_uri, run_flags)
    spec = cluster_spec(bucket, region, CodeLocations(bucket, wheel.name), keep_alive=False, **settings)
    prepared = prepare(aws, bucket, region, wheel, waits, subnet, kms_key)
    spec = _placed(spec, prepared)
    step = spark_step(prepared.code.entry_uri, args, action_on_failure="TERMINATE_CLUSTER")
    cluster_id = start_cluster(aws.emr, run_job_flow_request(spec, [step]), waits, on_retry=on_retry)
    step_ids = [s["Id"] for s in emr_api.list_steps(aws.emr, cluster_id)] or [None]
    return Started(cluster_id, spec, estimate(spec), prepared, step_id=step_ids[0])


def estimate(spec: ClusterSpec) -> float | None:
    return cluster_hourly_cost(spec.instance_type, spec.core_nodes, spec.region, spec.root_volume_gib,
                               spec.spot_core)


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
