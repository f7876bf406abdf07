"""Typed errors of `fruits cloud`, and the one place where botocore's exceptions become one-line messages.

Everything here is a `FruitsError`: the CLI prints `fruits: error: <message>` and exits 2.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from ..errors import FruitsError


class CloudError(FruitsError):
    """A `fruits cloud` problem the user can act on."""


class CloudUsageError(CloudError):
    """A `fruits cloud` flag value is malformed or out of range."""


class RegionError(CloudError):
    """The region is outside the European Union (or not a region at all)."""


class CredentialsError(CloudError):
    """No usable AWS credentials in the standard chain."""


class BucketNameError(CloudError):
    """The bucket name breaks S3's naming rules."""


class BucketRegionError(CloudError):
    """The bucket exists, but in another region than the one asked for."""


class BucketNotFoundError(CloudError):
    """The bucket does not exist (run `fruits cloud init` first)."""


class BucketForbiddenError(CloudError):
    """The bucket exists but is not ours (or we may not read it)."""


class ClusterNotFoundError(CloudError):
    """No EMR cluster with that id in that region."""


class ClusterStateError(CloudError):
    """The cluster exists but cannot take this action in its current state."""


class StepNotFoundError(CloudError):
    """The cluster has no such step (or no step at all)."""


class LocationError(CloudError):
    """An S3 location is malformed or outside the bucket the cluster may reach."""


class PackageError(CloudError):
    """The job code (wheel) cannot be built or found."""


class UploadError(CloudError):
    """A local file or folder cannot be uploaded."""


class NetworkError(CloudError):
    """No usable subnet (none given, no default VPC, or no route to the internet)."""


class EncryptionError(CloudError):
    """No KMS key for the cluster's disks."""


class AwsRequestError(CloudError):
    """AWS refused a request (permissions, limits, validation)."""


# Error codes that mean "these credentials are not valid", whatever the service.
_BAD_CREDENTIAL_CODES = {
    "InvalidAccessKeyId",
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "UnrecognizedClientException",
    "ExpiredToken",
    "ExpiredTokenException",
    "RequestExpired",
}


def error_code(exc: Exception) -> str:
    """The AWS error code of a botocore ClientError ('' for anything else)."""
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def error_message(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Message", "")).strip()


def translate(exc: Exception) -> CloudError | None:
    """The CloudError a botocore exception means for the user, or None when it is not an AWS problem."""
    from botocore.exceptions import (
        ClientError,
        EndpointConnectionError,
        NoCredentialsError,
        NoRegionError,
        PartialCredentialsError,
        ProfileNotFound,
        WaiterError,
    )

    if isinstance(exc, NoCredentialsError):
        return CredentialsError(
            "no AWS credentials found: run `aws configure` (or set AWS_PROFILE, or AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY); fruits reads credentials only from the standard AWS chain"
        )
    if isinstance(exc, PartialCredentialsError):
        return CredentialsError(f"incomplete AWS credentials ({exc}): run `aws configure` again")
    if isinstance(exc, ProfileNotFound):
        return CredentialsError(f"{exc}: check AWS_PROFILE or run `aws configure --profile NAME`")
    if isinstance(exc, NoRegionError):
        return RegionError("no AWS region: pass --region eu-west-3 (or another EU region)")
    if isinstance(exc, EndpointConnectionError):
        return AwsRequestError(f"cannot reach AWS ({exc}): check the network, the region and AWS_ENDPOINT_URL")
    if isinstance(exc, WaiterError):
        return AwsRequestError(f"gave up waiting: {exc}")
    if isinstance(exc, ClientError):
        code, message = error_code(exc), error_message(exc)
        operation = getattr(exc, "operation_name", "a request")
        if code in _BAD_CREDENTIAL_CODES:
            return CredentialsError(
                f"AWS rejected the credentials ({code}: {message}): run `aws configure` or refresh your session"
            )
        if code in ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "403"):
            return AwsRequestError(
                f"AWS denied {operation} ({message or 'Forbidden'}): the identity in use lacks that permission, "
                "or a bucket policy denies the request"
            )
        return AwsRequestError(f"AWS refused {operation}: {code}: {message}".rstrip(": "))
    return None


@contextmanager
def aws_errors() -> Iterator[None]:
    """Turn botocore's exceptions into CloudErrors (one line, exit 2); let everything else through."""
    try:
        yield
    except CloudError:
        raise
    except Exception as exc:  # noqa: BLE001 - translated or re-raised untouched
        translated = translate(exc)
        if translated is None:
            raise
        raise translated from exc
