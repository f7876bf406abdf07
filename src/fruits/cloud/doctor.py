"""`fruits cloud doctor`: a read-only pre-flight that says, before any money is spent, whether `run` would work.

One Check per question, each `pass`, `fail` or `unknown` (we could not tell, e.g. a permission to look is
missing) with the fix. Nothing here writes anything: reads only (STS, IAM, EC2, EMR, KMS, S3, Service Quotas).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import emr as emr_api
from . import iam as iam_api
from . import s3 as s3_api
from .bucket import bucket_region, merged_policy, public_access_block, tls_only_statement
from .errors import CloudError, translate
from .network import find_placement
from .pricing import _SIZE_FACTOR
from .security import find_disk_key

PASS, FAIL, UNKNOWN = "pass", "fail", "unknown"
VCPU_QUOTA_CODE = "L-1216C47A"  # Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances, in vCPUs
EMR_SERVICE_LINKED_ROLE = "AWSServiceRoleForEMRCleanup"
# What `fruits cloud init/up/run/destroy` call, checked with iam:SimulatePrincipalPolicy.
NEEDED_ACTIONS = (
    "s3:CreateBucket", "s3:PutObject", "s3:GetObject", "s3:ListBucket", "s3:PutBucketPolicy",
    "s3:PutEncryptionConfiguration", "s3:PutBucketVersioning", "s3:PutLifecycleConfiguration",
    "s3:PutBucketPublicAccessBlock",
    "iam:CreateRole", "iam:GetRole", "iam:PutRolePolicy", "iam:AttachRolePolicy", "iam:PassRole",
    "iam:CreateInstanceProfile", "iam:AddRoleToInstanceProfile", "iam:DeleteRole",
    "elasticmapreduce:RunJobFlow", "elasticmapreduce:AddJobFlowSteps", "elasticmapreduce:DescribeCluster",
    "elasticmapreduce:TerminateJobFlows", "elasticmapreduce:CreateSecurityConfiguration",
    "ec2:DescribeSubnets", "ec2:DescribeVpcs", "ec2:DescribeRouteTables", "ec2:CreateTags", "ec2:DeleteTags",
    "kms:CreateKey", "kms:CreateAlias", "kms:DescribeKey",
)


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    detail: str
    fix: str = ""

    def line(self) -> str:
        return f"{self.status:<7} {self.name:<24} {self.detail}" + (f" -> {self.fix}" if self.fix else "")


@dataclass(frozen=True)
class DoctorClients:
    sts: Any
    iam: Any
    ec2: Any
    emr: Any
    kms: Any
    s3: Any
    quotas: Any


def _unknown(name: str, exc: Exception, fix: str = "") -> Check:
    translated = translate(exc)
    message = str(translated) if translated is not None else f"{type(exc).__name__}: {exc}"
    message = " ".join(message.split())  # one line per check, whatever the error looked like
    if len(message) > 160:
        message = message[:157] + "..."
    return Check(name, UNKNOWN, f"could not check ({message})", fix)


def policy_source_arn(caller_arn: str) -> str:
    """SimulatePrincipalPolicy wants a user or role ARN: an assumed-role session becomes its role."""
    if ":assumed-role/" in caller_arn:
        account = caller_arn.split(":")[4]
        role = caller_arn.split(":assumed-role/", 1)[1].split("/")[0]
        return f"arn:aws:iam::{account}:role/{role}"
    return caller_arn


def check_identity(sts) -> tuple[Check, str | None]:
    try:
        identity = sts.get_caller_identity()
    except Exception as exc:  # noqa: BLE001 - any failure here is the answer
        translated = translate(exc)
        if translated is None:
            raise
        return Check("credentials", FAIL, str(translated), "run `aws configure` (or `aws sso login`)"), None
    return Check("credentials", PASS, f"{identity['Arn']} (account {identity['Account']})"), identity["Arn"]


def check_permissions(iam, caller_arn: str) -> Check:
    name = "permissions"
    try:
        results = iam.simulate_principal_policy(PolicySourceArn=policy_source_arn(caller_arn),
                                                ActionNames=list(NEEDED_ACTIONS))["EvaluationResults"]
    except Exception as exc:  # noqa: BLE001 - AccessDenied, or a policy simulator that is not there
        return _unknown(name, exc, "ask for iam:SimulatePrincipalPolicy on yourself, or compare with docs/cloud.md")
    denied = sorted(r["EvalActionName"] for r in results if r.get("EvalDecision") != "allowed")
    if denied:
        return Check(name, FAIL, f"{len(denied)} of {len(NEEDED_ACTIONS)} actions denied: {', '.join(denied)}",
                     "attach the policies listed in docs/cloud.md (step 2) to your identity")
    return Check(name, PASS, f"all {len(NEEDED_ACTIONS)} actions fruits cloud uses are allowed")


def check_network(ec2, subnet: str | None) -> list[Check]:
    try:
        placement = find_placement(ec2, subnet)
    except CloudError as exc:
        return [Check("subnet", FAIL, str(exc)),  # the message says what to pass
                Check("network tags", UNKNOWN, "no usable subnet to look at")]
    except Exception as exc:  # noqa: BLE001
        return [_unknown("subnet", exc), Check("network tags", UNKNOWN, "no subnet to look at")]
    how = "chosen in the default VPC" if placement.chosen else "given"
    checks = [Check("subnet", PASS, f"{placement.subnet_id} ({placement.availability_zone}, {how}) has a route "
                                    "0.0.0.0/0 to an internet gateway")]
    missing = [f"{kind} {rid}" for kind, rid, ok in (("subnet", placement.subnet_id, placement.subnet_tagged),
                                                      ("vpc", placement.vpc_id, placement.vpc_tagged)) if not ok]
    if missing:
        checks.append(Check("network tags", PASS, f"{', '.join(missing)} not tagged yet: `up`/`run` add "
                                                  "for-use-with-amazon-emr-managed-policies=true (`destroy` removes "
                                                  "it)"))
    else:
        checks.append(Check("network tags", PASS, "subnet and VPC carry for-use-with-amazon-emr-managed-policies=true"))
    return checks


def check_service_linked_role(iam) -> Check:
    name = "EMR service-linked role"
    try:
        role = iam_api.get_role(iam, EMR_SERVICE_LINKED_ROLE)
    except Exception as exc:  # noqa: BLE001
        return _unknown(name, exc)
    if role is not None:
        return Check(name, PASS, f"{EMR_SERVICE_LINKED_ROLE} exists")
    return Check(name, UNKNOWN, f"{EMR_SERVICE_LINKED_ROLE} not there yet: EMR creates it with the first cluster "
                                "if you may iam:CreateServiceLinkedRole",
                 "or create it now: aws iam create-service-linked-role --aws-service-name "
                 "elasticmapreduce.amazonaws.com")


def vcpus(instance_type: str) -> int | None:
    """vCPUs of the types of the price table (xlarge = 4, doubling with the size)."""
    factor = _SIZE_FACTOR.get(instance_type.partition(".")[2])
    return None if factor is None else 4 * factor


def check_vcpu_quota(quotas, instance_type: str, core_nodes: int) -> Check:
    name = "On-Demand vCPU quota"
    per_node = vcpus(instance_type)
    if per_node is None:
        return Check(name, UNKNOWN, f"vCPUs of {instance_type} unknown to fruits")
    needed = per_node * (1 + core_nodes)
    try:
        quota = quotas.get_service_quota(ServiceCode="ec2", QuotaCode=VCPU_QUOTA_CODE)["Quota"]["Value"]
    except Exception as exc:  # noqa: BLE001
        return _unknown(name, exc, "see Service Quotas > Amazon EC2 > Running On-Demand Standard instances")
    detail = f"the cluster needs {needed} vCPUs ({1 + core_nodes} x {instance_type}), the quota is {quota:.0f}"
    if quota < needed:
        return Check(name, FAIL, detail, f"request an increase of quota {VCPU_QUOTA_CODE} in Service Quotas, or "
                                         "use fewer --core-nodes")
    return Check(name, PASS, detail + " (other running instances count against it too)")


def check_bucket(s3, kms, emr, bucket: str, region: str) -> list[Check]:
    fix = f"run `fruits cloud init --bucket {bucket} --region {region}`"
    try:
        found = bucket_region(s3, bucket)
    except Exception as exc:  # noqa: BLE001 - a bucket of another account, or no s3:GetBucketLocation
        return [_unknown("bucket", exc, fix)]
    if found is None:
        return [Check("bucket", FAIL, f"s3://{bucket} does not exist", fix)]
    if found != region:
        return [Check("bucket", FAIL, f"s3://{bucket} is in {found}, not {region}", f"pass --region {found}")]
    missing = []
    try:
        if s3_api.get_public_access_block(s3, bucket) != public_access_block():
            missing.append("Block Public Access")
        if not s3_api.get_bucket_encryption(s3, bucket):
            missing.append("default encryption")
        if merged_policy(s3_api.get_bucket_policy(s3, bucket), tls_only_statement(bucket)) is not None:
            missing.append("TLS-only policy")
        if s3_api.get_bucket_versioning(s3, bucket) != "Enabled":
            missing.append("versioning")
    except Exception as exc:  # noqa: BLE001
        return [_unknown("bucket hardening", exc, fix)]
    checks = [Check("bucket hardening", FAIL, f"s3://{bucket} lacks: {', '.join(missing)}", fix) if missing
              else Check("bucket hardening", PASS, f"s3://{bucket}: public access blocked, encrypted, TLS only, "
                                                   "versioned")]
    try:
        key = find_disk_key(kms, bucket)
        checks.append(Check("disk key", PASS, key) if key else
                      Check("disk key", FAIL, "no KMS key for the cluster's disks", f"{fix}, or pass --kms-key"))
    except Exception as exc:  # noqa: BLE001
        checks.append(_unknown("disk key", exc))
    return checks


def check_block_public_access(emr) -> Check:
    name = "EMR block public access"
    try:
        on = emr_api.get_block_public_access(emr).get("BlockPublicSecurityGroupRules", False)
    except Exception as exc:  # noqa: BLE001
        return _unknown(name, exc)
    if on:
        return Check(name, PASS, "on: no cluster port can be opened to the internet")
    return Check(name, FAIL, "off in this region", "turn it on: EMR console > Block public access")


def run_checks(clients: DoctorClients, region: str, bucket: str | None, subnet: str | None, instance_type: str,
               core_nodes: int, on_check: Callable[[Check], None] | None = None) -> list[Check]:
    """Every check, in the order a user would fix them; `on_check` sees each as soon as it is known."""
    checks: list[Check] = []

    def add(*found: Check) -> None:
        for check in found:
            checks.append(check)
            if on_check:
                on_check(check)

    add(Check("region", PASS, f"{region} is in an EU member state"))
    identity, caller = check_identity(clients.sts)
    add(identity)
    if caller is None:
        return checks  # nothing else can be asked without credentials
    add(check_permissions(clients.iam, caller))
    add(*check_network(clients.ec2, subnet))
    add(check_service_linked_role(clients.iam))
    add(check_vcpu_quota(clients.quotas, instance_type, core_nodes))
    add(check_block_public_access(clients.emr))
    if bucket:
        add(*check_bucket(clients.s3, clients.kms, clients.emr, bucket, region))
    else:
        add(Check("bucket", UNKNOWN, "no --bucket given", "pass --bucket B to check the bucket and its disk key"))
    return checks


def failed(checks: list[Check]) -> list[Check]:
    return [c for c in checks if c.status == FAIL]

