"""Spark/Hadoop settings to run `fruits run` on a laptop against S3 (`s3a://`, and `s3://` mapped to S3A).

On EMR nothing is needed: `s3://` is EMRFS. Elsewhere Spark needs the hadoop-aws jar of exactly the Hadoop
version inside the installed pyspark, and the AWS SDK bundle that hadoop-aws version was built with. Hadoop 3.3
uses the AWS SDK v1 (`com.amazonaws:aws-java-sdk-bundle`), Hadoop 3.4 and later the SDK v2
(`software.amazon.awssdk:bundle`); the credentials provider class differs accordingly.

Where Maven Central is out of reach (a closed network, CI), the two jars can come from a folder instead
(`--s3a-jars DIR` or FRUITS_S3A_JARS): they go to spark.jars, and nothing is resolved. hadoop-aws of another
patch release of the same Hadoop minor works (3.3.1 with pyspark 3.5's Hadoop 3.3.4 client is tested in CI, with
the aws-java-sdk-bundle it was built with); another minor is refused.

Credentials come from the AWS SDK's default chain (environment, ~/.aws profile, SSO, instance role): the
standard chain, never keys written into Spark settings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from .errors import CloudUsageError

# hadoop-aws version -> the AWS SDK bundle its POM declares (hadoop-project's aws-java-sdk[-v2].version).
_SDK_BUNDLES = {
    "3.3.4": "com.amazonaws:aws-java-sdk-bundle:1.12.262",
    "3.3.5": "com.amazonaws:aws-java-sdk-bundle:1.12.316",
    "3.3.6": "com.amazonaws:aws-java-sdk-bundle:1.12.367",
    "3.4.0": "software.amazon.awssdk:bundle:2.23.19",
    "3.4.1": "software.amazon.awssdk:bundle:2.24.6",
    "3.4.2": "software.amazon.awssdk:bundle:2.29.52",
}
_SDK_V1_PROVIDER = "com.amazonaws.auth.DefaultAWSCredentialsProviderChain"
_SDK_V2_PROVIDER = "software.amazon.awssdk.auth.credentials.DefaultCredentialsProvider"
_VERSION = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")
_HADOOP_JAR = re.compile(r"^hadoop-(?:client-api|client-runtime|common)-(\d+\.\d+\.\d+)\.jar$")
_HADOOP_AWS_JAR = re.compile(r"^hadoop-aws-(\d+\.\d+\.\d+)\.jar$")
# The SDK v1 bundle (Hadoop 3.3) or the SDK v2 bundle (Hadoop 3.4+).
_SDK_BUNDLE_JAR = re.compile(r"^(?:aws-java-sdk-bundle|bundle)-(\d+\.\d+\.\d+)\.jar$")
S3A_JARS_ENV = "FRUITS_S3A_JARS"


@dataclass(frozen=True)
class S3ASettings:
    """What `fruits run` passes to Spark: Maven packages for spark.jars.packages (or local jars for
    spark.jars), and Spark settings."""

    hadoop_version: str
    packages: tuple[str, ...]
    conf: dict[str, str] = field(default_factory=dict)
    # True when the SDK bundle is not pinned here: Ivy then takes the one hadoop-aws's POM declares.
    bundle_from_pom: bool = False
    # Local hadoop-aws and SDK bundle jars (already in conf as spark.jars); packages is then empty.
    jars: tuple[str, ...] = ()


def hadoop_version_of_jars(jars_dir: str | Path) -> str:
    """The Hadoop version of a Spark distribution's jars folder (hadoop-client-api-X.Y.Z.jar and friends)."""
    directory = Path(jars_dir)
    versions = sorted({m.group(1) for p in directory.glob("hadoop-*.jar") if (m := _HADOOP_JAR.match(p.name))})
    if not versions:
        raise CloudUsageError(f"no hadoop-client-api/hadoop-common jar in {directory}: is this pyspark's jars folder?")
    if len(versions) > 1:
        raise CloudUsageError(f"several Hadoop versions in {directory}: {', '.join(versions)}")
    return versions[0]


def installed_hadoop_version() -> str:
    """The Hadoop version of the pyspark installed in this environment."""
    try:
        import pyspark
    except ImportError:
        raise CloudUsageError("pyspark is not installed: pip install pyspark") from None
    return hadoop_version_of_jars(Path(pyspark.__file__).parent / "jars")


def _is_sdk_v2(version: str) -> bool:
    major, minor, _ = (int(x) for x in version.split("."))
    return (major, minor) >= (3, 4)


def s3a_settings(hadoop_version: str, endpoint: str | None = None, region: str | None = None) -> S3ASettings:
    """Packages and Spark settings for S3A with Hadoop `hadoop_version`.

    `endpoint` (e.g. http://127.0.0.1:5000 for a local S3 like moto in tests) switches to path-style requests and,
    for http://, plain connections. `region` pins the S3A client's region (else the SDK resolves it).
    """
    if not _VERSION.match(hadoop_version or ""):
        raise CloudUsageError(f"bad Hadoop version {hadoop_version!r}: expected X.Y.Z")
    major, minor, _ = (int(x) for x in hadoop_version.split("."))
    if (major, minor) < (3, 3):
        raise CloudUsageError(f"Hadoop {hadoop_version} is too old for S3A with current AWS SDKs: use pyspark >= 3.5")
    bundle = _SDK_BUNDLES.get(hadoop_version)
    packages = (f"org.apache.hadoop:hadoop-aws:{hadoop_version}",) + ((bundle,) if bundle else ())
    provider = _SDK_V2_PROVIDER if _is_sdk_v2(hadoop_version) else _SDK_V1_PROVIDER
    conf = {
        "spark.hadoop.fs.s3a.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
        # s3:// URIs (what EMR users write) go through S3A too, so the same INPUT/OUTPUT work on a laptop.
        "spark.hadoop.fs.s3.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
        "spark.hadoop.fs.AbstractFileSystem.s3.impl": "org.apache.hadoop.fs.s3a.S3A",
        "spark.hadoop.fs.AbstractFileSystem.s3a.impl": "org.apache.hadoop.fs.s3a.S3A",
        "spark.hadoop.fs.s3a.aws.credentials.provider": provider,
    }
    if region:
        conf["spark.hadoop.fs.s3a.endpoint.region"] = region
    if endpoint:
        conf["spark.hadoop.fs.s3a.endpoint"] = endpoint
        conf["spark.hadoop.fs.s3a.path.style.access"] = "true"
        conf["spark.hadoop.fs.s3a.connection.ssl.enabled"] = "false" if endpoint.startswith("http://") else "true"
    return S3ASettings(hadoop_version, packages, conf, bundle_from_pom=bundle is None)


def local_s3a_jars(jars_dir: str | Path, hadoop_version: str) -> tuple[str, str, str]:
    """(hadoop-aws jar, SDK bundle jar, hadoop-aws version) found in `jars_dir`, checked against the Hadoop
    version of Spark's own jars: the same major.minor, or S3A fails with NoSuchMethodError mid-job."""
    directory = Path(jars_dir).expanduser()
    if not directory.is_dir():
        raise CloudUsageError(f"S3A jars folder not found: {directory} (give --s3a-jars DIR or {S3A_JARS_ENV})")
    found = {"hadoop-aws": [], "SDK bundle": []}
    for path in sorted(directory.glob("*.jar")):
        if match := _HADOOP_AWS_JAR.match(path.name):
            found["hadoop-aws"].append((path, match.group(1)))
        elif _SDK_BUNDLE_JAR.match(path.name):
            found["SDK bundle"].append((path, None))
    for what, hits in found.items():
        if len(hits) != 1:
            names = ", ".join(p.name for p, _ in hits) or "none"
            raise CloudUsageError(
                f"{directory} must hold exactly one {what} jar (found: {names}): hadoop-aws-X.Y.Z.jar and "
                "aws-java-sdk-bundle-*.jar (Hadoop 3.3) or bundle-*.jar (Hadoop 3.4+)")
    [(aws_jar, aws_version)] = found["hadoop-aws"]
    [(bundle_jar, _)] = found["SDK bundle"]
    if aws_version.split(".")[:2] != hadoop_version.split(".")[:2]:
        raise CloudUsageError(
            f"{aws_jar.name} does not match Spark's Hadoop {hadoop_version}: use hadoop-aws "
            f"{'.'.join(hadoop_version.split('.')[:2])}.x")
    if _is_sdk_v2(aws_version) != bundle_jar.name.startswith("bundle-"):
        raise CloudUsageError(f"{bundle_jar.name} is not the AWS SDK that {aws_jar.name} was built with")
    return str(aws_jar.resolve()), str(bundle_jar.resolve()), aws_version


def installed_s3a_settings(
    endpoint: str | None = None, region: str | None = None, jars_dir: str | Path | None = None,
) -> S3ASettings:
    """`s3a_settings` for the installed pyspark (what `fruits run --s3a` uses), with Maven packages, or with
    the jars of `jars_dir` when one is given."""
    hadoop_version = installed_hadoop_version()
    if not jars_dir:
        return s3a_settings(hadoop_version, endpoint=endpoint, region=region)
    aws_jar, bundle_jar, aws_version = local_s3a_jars(jars_dir, hadoop_version)
    # The credentials provider follows the SDK the local hadoop-aws was built with.
    settings = s3a_settings(aws_version, endpoint=endpoint, region=region)
    conf = {**settings.conf, "spark.jars": f"{aws_jar},{bundle_jar}"}
    return S3ASettings(hadoop_version, (), conf, jars=(aws_jar, bundle_jar))
