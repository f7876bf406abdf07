"""`--dry-run`: record every AWS request a command would send, answer it locally, send nothing.

The recorder hooks into real boto3 clients through botocore's event system, so the flows run unchanged and
botocore still validates each request against the service model (a malformed request fails in a dry run
too). No credentials are needed: requests are answered before they are signed.

- `before-parameter-build` records the operation and the parameters exactly as the caller gave them;
- `before-call` returns a local answer, which botocore uses instead of sending the request.

The answers describe a plausible world, stated in `--dry-run`'s help: reads answer as for an account where
the bucket (for `init`: nothing) exists and the roles do not, and writes answer with placeholder ids. A command
can add its own assumptions (e.g. that a given cluster exists) with `assume`.
"""

from __future__ import annotations

import datetime as _dt
import io
import json
import threading
from collections.abc import Callable, Mapping
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders

from .cluster import BUCKET_TAG

DRY_RUN_CLUSTER_ID = "j-DRYRUN0000000"
DRY_RUN_STEP_ID = "s-DRYRUN0000000"
_ACCOUNT = "000000000000"  # placeholder account id in ARNs of dry-run answers

# Reads answered with "not found", as in an account where fruits has created nothing yet.
_ABSENT: dict[str, tuple[int, str]] = {
    "s3.GetPublicAccessBlock": (404, "NoSuchPublicAccessBlockConfiguration"),
    "s3.GetBucketEncryption": (404, "ServerSideEncryptionConfigurationNotFoundError"),
    "s3.GetBucketPolicy": (404, "NoSuchBucketPolicy"),
    "s3.GetBucketLifecycleConfiguration": (404, "NoSuchLifecycleConfiguration"),
    "s3.GetBucketOwnershipControls": (404, "OwnershipControlsNotFoundError"),
    "s3.HeadObject": (404, "404"),
    "s3.GetObject": (404, "NoSuchKey"),
    "iam.GetRole": (404, "NoSuchEntity"),
    "iam.GetRolePolicy": (404, "NoSuchEntity"),
    "iam.GetInstanceProfile": (404, "NoSuchEntity"),
    "emr.DescribeSecurityConfiguration": (400, "InvalidRequestException"),
}
DRY_RUN_VPC = "vpc-0d0d0d0d0d0d0d0d0"
DRY_RUN_SUBNET = "subnet-0d0d0d0d0d0d0d0d0"

Answer = Callable[[Mapping[str, Any]], Mapping[str, Any]]


class AnswerError:
    """An assumed error answer: botocore raises the modelled exception for `code`."""

    def __init__(self, status: int, code: str, message: str = "assumed by --dry-run"):
        self.status, self.code, self.message = status, code, message


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


def _default_answers(region: str, bucket_exists: bool) -> dict[str, Answer | AnswerError]:
    answers: dict[str, Answer | AnswerError] = {
        "s3.ListObjectsV2": lambda p: {"Contents": [], "KeyCount": 0, "IsTruncated": False},
        "s3.ListObjectVersions": lambda p: {"Versions": [], "DeleteMarkers": [], "IsTruncated": False},
        "s3.GetBucketVersioning": lambda p: {},
        "iam.CreateRole": lambda p: {"Role": {
            "RoleName": p["RoleName"], "Arn": f"arn:aws:iam::{_ACCOUNT}:role/{p['RoleName']}", "Path": "/",
            "RoleId": "DRYRUN", "CreateDate": _now()}},
        "iam.CreateInstanceProfile": lambda p: {"InstanceProfile": {
            "InstanceProfileName": p["InstanceProfileName"], "Roles": [], "Path": "/", "InstanceProfileId": "DRYRUN",
            "Arn": f"arn:aws:iam::{_ACCOUNT}:instance-profile/{p['InstanceProfileName']}", "CreateDate": _now()}},
        "iam.ListAttachedRolePolicies": lambda p: {"AttachedPolicies": [], "IsTruncated": False},
        "iam.ListRolePolicies": lambda p: {"PolicyNames": [], "IsTruncated": False},
        "emr.RunJobFlow": lambda p: {"JobFlowId": DRY_RUN_CLUSTER_ID,
                                     "ClusterArn": f"arn:aws:elasticmapreduce:{region}:{_ACCOUNT}:cluster/"
                                                   f"{DRY_RUN_CLUSTER_ID}"},
        "emr.AddJobFlowSteps": lambda p: {"StepIds": [DRY_RUN_STEP_ID for _ in p.get("Steps", [])]},
        "emr.ListClusters": lambda p: {"Clusters": []},
        "emr.ListSteps": lambda p: {"Steps": []},
        "emr.ListInstanceGroups": lambda p: {"InstanceGroups": []},
        "emr.CreateSecurityConfiguration": lambda p: {"Name": p["Name"], "CreationDateTime": _now()},
        # The network of an untouched account: a default VPC whose subnets reach an internet gateway, no tags.
        "ec2.DescribeVpcs": lambda p: {"Vpcs": [{"VpcId": DRY_RUN_VPC, "IsDefault": True, "Tags": []}]},
        "ec2.DescribeSubnets": lambda p: {"Subnets": [{
            "SubnetId": (p.get("SubnetIds") or [DRY_RUN_SUBNET])[0], "VpcId": DRY_RUN_VPC,
            "AvailabilityZone": f"{region}a", "Tags": []}]},
        "ec2.DescribeRouteTables": lambda p: {"RouteTables": [{
            "RouteTableId": "rtb-0d0d0d0d0d0d0d0d0", "VpcId": DRY_RUN_VPC, "Associations": [{"Main": True}],
            "Routes": [{"DestinationCidrBlock": "0.0.0.0/0", "GatewayId": "igw-0d0d0d0d0d0d0d0d0",
                        "State": "active"}]}]},
        "ec2.CreateTags": lambda p: {},
        "ec2.DeleteTags": lambda p: {},
        "kms.CreateKey": lambda p: {"KeyMetadata": {
            "KeyId": "dry-run-key", "Arn": f"arn:aws:kms:{region}:{_ACCOUNT}:key/dry-run-key"}},
        "kms.CreateAlias": lambda p: {},
        "sts.GetCallerIdentity": lambda p: {"Account": _ACCOUNT, "UserId": "DRYRUN",
                                            "Arn": f"arn:aws:iam::{_ACCOUNT}:user/dry-run"},
        "emr.GetBlockPublicAccessConfiguration": lambda p: {
            "BlockPublicAccessConfiguration": {"BlockPublicSecurityGroupRules": True},
            "BlockPublicAccessConfigurationMetadata": {"CreationDateTime": _now(), "CreatedByArn": "dry-run"}},
    }
    if bucket_exists:
        # LocationConstraint is null for us-east-1 only; an EU bucket answers with its region.
        answers["s3.GetBucketLocation"] = lambda p: {"LocationConstraint": region}
        # ... and `init` made the disk key.
        answers["kms.DescribeKey"] = lambda p: {"KeyMetadata": {
            "KeyId": "dry-run-key", "Arn": f"arn:aws:kms:{region}:{_ACCOUNT}:key/dry-run-key", "KeyState": "Enabled"}}
    else:
        answers["s3.GetBucketLocation"] = AnswerError(404, "NoSuchBucket")
        answers["kms.DescribeKey"] = AnswerError(400, "NotFoundException")
    for key, (status, code) in _ABSENT.items():
        answers[key] = AnswerError(status, code)
    return answers


def jsonable(value: Any) -> Any:
    """Request parameters as JSON: bodies become a short description, dates ISO strings."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return f"<{len(value)} bytes>"
    if isinstance(value, (io.IOBase,)) or hasattr(value, "read"):
        name = getattr(value, "name", None)
        return f"<file {name}>" if name else "<stream>"
    if isinstance(value, (_dt.datetime, _dt.date)):
        return value.isoformat()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


class RequestRecorder:
    """Records the requests of the clients it is attached to and answers them without sending anything."""

    def __init__(self, region: str, bucket_exists: bool = True):
        self.region = region
        self.requests: list[dict[str, Any]] = []
        self._answers = _default_answers(region, bucket_exists)
        self._lock = threading.Lock()  # uploads call from several threads

    def assume(self, service: str, operation: str, answer: Answer | AnswerError | Mapping[str, Any]) -> None:
        """Answer `service.operation` with `answer` (a mapping, a function of the params, or an AnswerError)."""
        if isinstance(answer, Mapping):
            fixed = dict(answer)
            answer = lambda params: fixed  # noqa: E731
        self._answers[f"{service}.{operation}"] = answer

    # --- assumptions of the commands that act on things `init` and `up` made -----------------------------

    def assume_cluster(self, cluster_id: str, bucket: str | None = None, state: str = "WAITING") -> None:
        """A fruits cluster with that id exists (for `submit`, `logs`, `down`)."""
        cluster: dict[str, Any] = {"Id": cluster_id, "Status": {"State": state}}
        if bucket:
            cluster.update(Name=f"fruits-{bucket}", LogUri=f"s3n://{bucket}/logs/",
                           Tags=[{"Key": BUCKET_TAG, "Value": bucket}])
        self.assume("emr", "DescribeCluster", {"Cluster": cluster})

    def assume_steps(self) -> None:
        """The cluster ran one step (for `logs`)."""
        self.assume("emr", "ListSteps", {"Steps": [
            {"Id": DRY_RUN_STEP_ID, "Name": "fruits run", "Status": {"State": "COMPLETED"}}]})

    def assume_fruits_roles(self, instance_role: str) -> None:
        """The roles and instance profile of `up` exist, and no other bucket's (for `destroy`)."""
        from .roles import INSTANCE_POLICY_NAME, SERVICE_POLICY_ARN, SERVICE_ROLE

        pass_policy = "fruits-pass-" + instance_role

        self.assume("iam", "GetRole", lambda p: {"Role": {
            "RoleName": p["RoleName"], "Path": "/", "Arn": f"arn:aws:iam::{_ACCOUNT}:role/{p['RoleName']}",
            "RoleId": "DRYRUN", "CreateDate": _now()}})
        self.assume("iam", "GetInstanceProfile", {"InstanceProfile": {
            "InstanceProfileName": instance_role, "Roles": [{"RoleName": instance_role}]}})
        self.assume("iam", "ListAttachedRolePolicies", lambda p: {"IsTruncated": False, "AttachedPolicies": (
            [{"PolicyArn": SERVICE_POLICY_ARN}] if p["RoleName"] == SERVICE_ROLE else [])})
        self.assume("iam", "ListRolePolicies", lambda p: {"IsTruncated": False, "PolicyNames": (
            [INSTANCE_POLICY_NAME] if p["RoleName"] == instance_role else [pass_policy])})
        self.assume("iam", "ListRoles", {"Roles": [], "IsTruncated": False})

    def assume_fruits_network_and_keys(self, bucket: str) -> None:
        """`up` tagged a subnet and its VPC and made a security configuration (for `destroy`)."""
        from .network import OUR_MARK
        from .security import configuration_name, security_configuration

        marked = [{"Key": OUR_MARK, "Value": "true"}]
        self.assume("ec2", "DescribeSubnets", {"Subnets": [
            {"SubnetId": DRY_RUN_SUBNET, "VpcId": DRY_RUN_VPC, "Tags": marked}]})
        self.assume("ec2", "DescribeVpcs", {"Vpcs": [{"VpcId": DRY_RUN_VPC, "Tags": marked}]})
        self.assume("emr", "DescribeSecurityConfiguration", {
            "Name": configuration_name(bucket), "CreationDateTime": _now(),
            "SecurityConfiguration": json.dumps(security_configuration(f"arn:aws:kms:{self.region}:{_ACCOUNT}:key/k"))})

    def attach(self, client) -> None:
        service = client.meta.service_model.service_name
        region = client.meta.region_name
        events = client.meta.events

        def record(params, model, context, **_):
            entry = {"service": service, "region": region, "operation": model.name, "params": jsonable(params)}
            with self._lock:
                self.requests.append(entry)
            context["fruits_dry_run"] = (service, model.name, dict(params))

        def answer(model, context, **_):
            service_name, operation, params = context.get("fruits_dry_run", (service, model.name, {}))
            return self._answer(service_name, operation, params)

        events.register_first("before-parameter-build.*.*", record, unique_id=f"fruits-dry-run-record-{id(self)}")
        events.register_first("before-call.*.*", answer, unique_id=f"fruits-dry-run-answer-{id(self)}")

    def _answer(self, service: str, operation: str, params: Mapping[str, Any]):
        found = self._answers.get(f"{service}.{operation}")
        if isinstance(found, AnswerError):
            status = found.status
            body: dict[str, Any] = {"Error": {"Code": found.code, "Message": found.message}}
        else:
            status = 200
            body = dict(found(params)) if found else {}
        body["ResponseMetadata"] = {"HTTPStatusCode": status, "RequestId": "dry-run", "HTTPHeaders": {}}
        return AWSResponse("https://dry-run.invalid/", status, HTTPHeaders(), None), body

    def to_json(self) -> str:
        return json.dumps(self.requests, indent=2, ensure_ascii=False)

    def operations(self) -> list[str]:
        """`service.Operation` of each recorded request, in order (for tests and summaries)."""
        return [f"{r['service']}.{r['operation']}" for r in self.requests]
