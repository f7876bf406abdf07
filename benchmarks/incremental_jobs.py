"""The Spark jobs, stages, tasks and executor seconds of each step of one `fruits run --incremental`.

    python benchmarks/incremental_jobs.py WORK FIRST_CLASSES LATER_CLASSES [LABEL] [--prof]

The first call copies FIRST_CLASSES classes of ../shared/data/fruits-360-114 into WORK/photos, runs a full
`fruits run` (kept in WORK/out0), then adds the next LATER_CLASSES classes; every call then restores WORK/out from
WORK/out0 and times one `--incremental` run in this process (a warmed `local[2]` session, 224 px, the shared
backbone), each step's Spark jobs tagged with the step's name (read back from Spark's REST API). Run it with
PYTHONPATH pointing at two versions of the code, back to back, to compare them; `--prof` adds the driver's
cProfile. Job, stage and task counts do not depend on the machine's load; seconds do.
"""

from __future__ import annotations

import cProfile
import datetime as dt
import functools
import json
import os
import pstats
import shutil
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IMAGES = ROOT.parent / "shared" / "data" / "fruits-360-114"
WEIGHTS = str(ROOT.parent / "shared" / "models" / "mobilenet_v2_backbone_160.weights.h5")
# The steps whose Spark jobs are tagged: (module, function).
STEPS = (("stages", "prepare"), ("incremental", "plan"), ("incremental", "featurize_to_output"),
         ("incremental", "write"), ("steps", "write"), ("stages", "fit"), ("stages", "project"),
         ("stages", "classify"), ("incremental", "commit"))


def copy_classes(photos: Path, names: list[str]) -> None:
    for split in ("Training", "Test"):
        for name in names:
            shutil.copytree(IMAGES / split / name, photos / split / name, dirs_exist_ok=True)


def tag_jobs(spark, walls: list) -> None:
    """Every Spark job a step starts gets the step's name as its description (a write: the folder written)."""
    from fruits.spark import incremental, stages, steps

    modules = {"incremental": incremental, "stages": stages, "steps": steps}
    context = spark.sparkContext
    for module_name, name in STEPS:
        module = modules[module_name]
        original = getattr(module, name)

        def tagged(*args, original=original, name=name, **kwargs):
            what = f"write {args[2].rstrip('/').split('/')[-1]}" if name == "write" else name
            before = context.getLocalProperty("spark.job.description")
            context.setJobDescription(what)
            started = time.monotonic()
            try:
                return original(*args, **kwargs)
            finally:
                walls.append((what, round(time.monotonic() - started, 2)))
                context.setJobDescription(before)

        setattr(module, name, functools.wraps(original)(tagged))


def rest(spark, path: str):
    context = spark.sparkContext
    with urllib.request.urlopen(f"{context.uiWebUrl}/api/v1/applications/{context.applicationId}/{path}") as answer:
        return json.loads(answer.read())


def job_seconds(job) -> float:
    def parse(text):
        return dt.datetime.strptime(text.replace("GMT", "+0000"), "%Y-%m-%dT%H:%M:%S.%f%z")

    if not job.get("completionTime"):
        return float("nan")
    return (parse(job["completionTime"]) - parse(job["submissionTime"])).total_seconds()


def main() -> None:
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from fruits.config import RunConfig
    from fruits.spark.job import run_pipeline
    from fruits.spark.session import build_spark_session

    work, n_first, n_later = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    label = sys.argv[4] if len(sys.argv) > 4 and not sys.argv[4].startswith("--") else "run"
    classes = sorted(path.name for path in (IMAGES / "Training").iterdir())
    photos, output = work / "photos", work / "out"
    spark = build_spark_session("local[2]", "fruits incremental jobs")
    spark.range(1).write.format("noop").mode("overwrite").save()  # the JVM's first job, not counted
    if not (work / "out0" / "manifest.json").exists():
        shutil.rmtree(work, ignore_errors=True)
        copy_classes(photos, classes[:n_first])
        run_pipeline(RunConfig(inputs=(str(photos),), output=str(output), weights=WEIGHTS, image_size=224), spark)
        shutil.copytree(output, work / "out0")
        copy_classes(photos, classes[n_first:n_first + n_later])
    else:
        shutil.rmtree(output, ignore_errors=True)
        shutil.copytree(work / "out0", output)
    walls: list = []
    tag_jobs(spark, walls)
    tracker = spark.sparkContext.statusTracker()
    first_job = max(tracker.getJobIdsForGroup(None) or [0]) + 1
    profile = cProfile.Profile()
    started = time.perf_counter()
    profile.enable()
    manifest = run_pipeline(RunConfig(inputs=(str(photos),), output=str(output), weights=WEIGHTS, image_size=224,
                                      incremental="on"), spark)
    profile.disable()
    seconds = time.perf_counter() - started
    jobs = [rest(spark, f"jobs/{i}") for i in range(first_job, max(tracker.getJobIdsForGroup(None)) + 1)]
    reuse = manifest.incremental
    print(f"== {label}: {seconds:.1f} s, load average {os.getloadavg()[0]:.1f}, reused {reuse.reused}, "
          f"new {reuse.new}")
    print("timings_s", manifest.timings_s)
    print("step walls", walls)
    print(f"{len(jobs)} Spark jobs, {sum(len(job['stageIds']) for job in jobs)} stages, "
          f"{sum(job['numTasks'] for job in jobs)} tasks")
    per_step: dict[str, list] = {}
    for job in jobs:
        totals = per_step.setdefault(job.get("description") or "-", [0, 0, 0.0, 0.0])
        for stage_id in job["stageIds"]:
            for stage in rest(spark, f"stages/{stage_id}"):
                if stage["status"] == "COMPLETE":  # skipped stages (a shuffle reused) did not run
                    totals[0] += 1
                    totals[1] += stage["numCompleteTasks"]
                    totals[2] += stage["executorRunTime"] / 1e3
                    totals[3] += stage["executorCpuTime"] / 1e9
    print("| step | stages run | tasks | executor run s | executor JVM CPU s |\n| --- | ---: | ---: | ---: | ---: |")
    for step, (n_stages, n_tasks, run, cpu) in per_step.items():
        print(f"| {step} | {n_stages} | {n_tasks} | {run:.2f} | {cpu:.2f} |")
    for job in jobs:
        print(f"  job {job['jobId']}: {job['numTasks']} tasks, {len(job['stageIds'])} stages "
              f"({job.get('numSkippedStages', 0)} skipped), {job_seconds(job):.2f} s, "
              f"{job.get('description') or '-'}: {job['name'][:60]}")
    if "--prof" in sys.argv:
        pstats.Stats(profile).sort_stats("cumulative").print_stats(35)
    spark.stop()


if __name__ == "__main__":
    main()
