"""S3A settings for `fruits run` on a laptop against S3: packages matching pyspark's Hadoop, Spark settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from fruits.cloud.errors import CloudUsageError
from fruits.cloud.s3a import hadoop_version_of_jars, installed_hadoop_version, installed_s3a_settings, s3a_settings


def _jars(tmp_path: Path, *names: str) -> Path:
    for name in names:
        (tmp_path / name).write_bytes(b"")
    return tmp_path


def test_the_hadoop_version_comes_from_the_jars(tmp_path):
    jars = _jars(tmp_path, "hadoop-client-api-3.3.4.jar", "hadoop-client-runtime-3.3.4.jar",
                 "parquet-hadoop-1.13.1.jar", "dropwizard-metrics-hadoop-metrics2-reporter-0.1.2.jar",
                 "spark-core_2.12-3.5.1.jar")
    assert hadoop_version_of_jars(jars) == "3.3.4"


def test_no_or_several_hadoop_versions_are_errors(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CloudUsageError, match="no hadoop-client-api"):
        hadoop_version_of_jars(_jars(empty, "spark-core_2.12-3.5.1.jar"))
    with pytest.raises(CloudUsageError, match="several Hadoop versions"):
        hadoop_version_of_jars(_jars(tmp_path, "hadoop-client-api-3.3.4.jar", "hadoop-client-api-3.4.1.jar"))


def test_the_installed_pyspark_is_read_for_real():
    import pyspark

    jars = Path(pyspark.__file__).parent / "jars"
    [api] = list(jars.glob("hadoop-client-api-*.jar"))
    version = installed_hadoop_version()
    assert api.name == f"hadoop-client-api-{version}.jar"
    settings = installed_s3a_settings()
    assert settings.packages[0] == f"org.apache.hadoop:hadoop-aws:{version}"


def test_hadoop_33_uses_the_v1_sdk_bundle_and_provider():
    settings = s3a_settings("3.3.4")
    assert settings.packages == ("org.apache.hadoop:hadoop-aws:3.3.4", "com.amazonaws:aws-java-sdk-bundle:1.12.262")
    assert settings.conf["spark.hadoop.fs.s3a.aws.credentials.provider"] == (
        "com.amazonaws.auth.DefaultAWSCredentialsProviderChain")
    assert settings.bundle_from_pom is False


@pytest.mark.parametrize("version, bundle", [
    ("3.4.0", "software.amazon.awssdk:bundle:2.23.19"),
    ("3.4.1", "software.amazon.awssdk:bundle:2.24.6"),
    ("3.4.2", "software.amazon.awssdk:bundle:2.29.52"),
])
def test_hadoop_34_uses_the_v2_sdk_bundle_and_provider(version, bundle):
    settings = s3a_settings(version)
    assert settings.packages == (f"org.apache.hadoop:hadoop-aws:{version}", bundle)
    assert settings.conf["spark.hadoop.fs.s3a.aws.credentials.provider"] == (
        "software.amazon.awssdk.auth.credentials.DefaultCredentialsProvider")


def test_a_hadoop_version_not_in_the_table_takes_the_bundle_of_its_pom():
    settings = s3a_settings("3.5.0")
    assert settings.packages == ("org.apache.hadoop:hadoop-aws:3.5.0",)
    assert settings.bundle_from_pom is True
    assert "DefaultCredentialsProvider" in settings.conf["spark.hadoop.fs.s3a.aws.credentials.provider"]


def test_s3_uris_go_through_s3a_and_no_key_is_ever_in_the_settings():
    conf = s3a_settings("3.4.1").conf
    assert conf["spark.hadoop.fs.s3.impl"] == "org.apache.hadoop.fs.s3a.S3AFileSystem"
    assert conf["spark.hadoop.fs.s3a.impl"] == "org.apache.hadoop.fs.s3a.S3AFileSystem"
    assert not [key for key in conf if "access.key" in key or "secret" in key]
    assert "spark.hadoop.fs.s3a.endpoint" not in conf


def test_an_endpoint_for_tests_switches_to_path_style_and_plain_http():
    conf = s3a_settings("3.4.1", endpoint="http://127.0.0.1:5000", region="eu-west-3").conf
    assert conf["spark.hadoop.fs.s3a.endpoint"] == "http://127.0.0.1:5000"
    assert conf["spark.hadoop.fs.s3a.path.style.access"] == "true"
    assert conf["spark.hadoop.fs.s3a.connection.ssl.enabled"] == "false"
    assert conf["spark.hadoop.fs.s3a.endpoint.region"] == "eu-west-3"
    https = s3a_settings("3.4.1", endpoint="https://s3.local").conf
    assert https["spark.hadoop.fs.s3a.connection.ssl.enabled"] == "true"


@pytest.mark.parametrize("version", ["3.2.4", "3", "3.4", "x.y.z", ""])
def test_bad_or_too_old_versions_are_refused(version):
    with pytest.raises(CloudUsageError):
        s3a_settings(version)
