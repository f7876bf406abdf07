"""S3A settings for `fruits run` on a laptop against S3: packages matching pyspark's Hadoop, Spark settings."""

from __future__ import annotations

import re
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


# Local jars (`--s3a-jars DIR`, FRUITS_S3A_JARS) where Maven Central is out of reach.

def test_local_jars_of_the_same_hadoop_minor_go_to_spark_jars(tmp_path):
    from fruits.cloud.s3a import local_s3a_jars

    jars = _jars(tmp_path, "hadoop-aws-3.3.1.jar", "aws-java-sdk-bundle-1.11.901.jar", "unrelated-1.0.jar")
    aws_jar, bundle_jar, version = local_s3a_jars(jars, "3.3.4")
    assert (Path(aws_jar).name, Path(bundle_jar).name, version) == (
        "hadoop-aws-3.3.1.jar", "aws-java-sdk-bundle-1.11.901.jar", "3.3.1")
    assert Path(aws_jar).is_absolute() and Path(bundle_jar).is_absolute()


@pytest.mark.parametrize("names, hadoop, message", [
    ([], "3.3.4", "exactly one hadoop-aws jar"),
    (["hadoop-aws-3.3.1.jar"], "3.3.4", "exactly one SDK bundle jar"),
    (["aws-java-sdk-bundle-1.11.901.jar"], "3.3.4", "exactly one hadoop-aws jar"),
    (["hadoop-aws-3.3.1.jar", "hadoop-aws-3.3.4.jar", "aws-java-sdk-bundle-1.12.262.jar"], "3.3.4",
     "found: hadoop-aws-3.3.1.jar, hadoop-aws-3.3.4.jar"),
    (["hadoop-aws-3.3.1.jar", "aws-java-sdk-bundle-1.11.901.jar"], "3.4.1", "does not match Spark's Hadoop 3.4.1"),
    (["hadoop-aws-3.4.1.jar", "bundle-2.24.6.jar"], "3.3.4", "does not match Spark's Hadoop 3.3.4"),
    (["hadoop-aws-3.4.1.jar", "aws-java-sdk-bundle-1.12.262.jar"], "3.4.2", "not the AWS SDK"),
    (["hadoop-aws-3.3.4.jar", "bundle-2.24.6.jar"], "3.3.4", "not the AWS SDK"),
])
def test_bad_local_jar_folders_are_refused(tmp_path, names, hadoop, message):
    from fruits.cloud.s3a import local_s3a_jars

    with pytest.raises(CloudUsageError, match=re.escape(message)):
        local_s3a_jars(_jars(tmp_path, *names), hadoop)


def test_a_missing_jar_folder_names_the_flag_and_the_variable(tmp_path):
    from fruits.cloud.s3a import local_s3a_jars

    with pytest.raises(CloudUsageError, match="--s3a-jars DIR or FRUITS_S3A_JARS"):
        local_s3a_jars(tmp_path / "absent", "3.3.4")


def _jars_for_installed_pyspark(tmp_path: Path) -> Path:
    version = installed_hadoop_version()
    bundle = "bundle-2.0.0.jar" if version >= "3.4" else "aws-java-sdk-bundle-1.0.0.jar"
    return _jars(tmp_path, f"hadoop-aws-{version}.jar", bundle)


@pytest.mark.parametrize("how", ["flag", "variable"])
def test_fruits_run_s3a_takes_local_jars_from_the_flag_or_the_variable(tmp_path, monkeypatch, how):
    from fruits.cli.main import build_parser
    from fruits.cli.run import config_from_args

    jars = _jars_for_installed_pyspark(tmp_path)
    argv = ["run", "s3a://b/in", "s3a://b/out", "--s3a"]
    if how == "flag":
        argv += ["--s3a-jars", str(jars)]
        monkeypatch.setenv("FRUITS_S3A_JARS", str(tmp_path / "not-this-one"))
    else:
        monkeypatch.setenv("FRUITS_S3A_JARS", str(jars))
    config = config_from_args(build_parser().parse_args(argv))
    assert config.packages == ()  # nothing for Ivy to resolve from Maven
    assert sorted(config.spark_conf["spark.jars"].split(",")) == sorted(str(p.resolve()) for p in jars.glob("*.jar"))
    assert config.spark_conf["spark.hadoop.fs.s3a.impl"] == "org.apache.hadoop.fs.s3a.S3AFileSystem"


def test_without_local_jars_s3a_asks_maven_and_s3a_jars_implies_s3a(tmp_path, monkeypatch):
    from fruits.cli.main import build_parser
    from fruits.cli.run import config_from_args

    monkeypatch.delenv("FRUITS_S3A_JARS", raising=False)
    maven = config_from_args(build_parser().parse_args(["run", "s3a://b/in", "s3a://b/out", "--s3a"]))
    assert maven.packages[0].startswith("org.apache.hadoop:hadoop-aws:") and "spark.jars" not in maven.spark_conf
    jars = _jars_for_installed_pyspark(tmp_path)
    implied = config_from_args(build_parser().parse_args(["run", "s3a://b/in", "s3a://b/out", "--s3a-jars", str(jars)]))
    assert "spark.jars" in implied.spark_conf and implied.packages == ()
    plain = config_from_args(build_parser().parse_args(["run", "in", "out"]))
    assert plain.packages == () and "spark.jars" not in plain.spark_conf
