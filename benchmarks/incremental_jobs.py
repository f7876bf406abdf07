"""The Spark jobs, stages, tasks and executor seconds of each step of one `fruits run --incremental`.

    python benchmarks/incremental_jobs.py WORK FIRST_CLASSES LATER_CLASSES [LABEL] [--prof]

The first call copies FIRST_CLASSES classes of ../shared/data/fruits-360-114 into WORK/photos, runs a full
`fruits run` (kept in WORK/out0), then adds the next LATER_CLASSES classes; every call then restores WORK/out from
WORK/out0 and times one `--incremental` run in this process (a warmed `local[2]` session, 224 px, the shared
backbone), each step's Spark jobs tagged with the step's name (read back from Spark's REST API). Run it with
PYTHONPATH pointing at two versions of the code, back to back, to compare them; `--prof` adds the driver's
cProfile. Job, stage and task counts do not depend on the machine's load; seconds do.
"""
import cProfile, datetime as dt, functools, json, os, pstats, shutil, sys, time, urllib.request
from pathlib import Path
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
from fruits.config import RunConfig
from fruits.spark import incremental, stages, steps
from fruits.spark.job import run_pipeline
from fruits.spark.session import build_spark_session

ROOT = Path(__file__).resolve().parents[1]
IMAGES = ROOT.parent / "shared" / "data" / "fruits-360-114"
WEIGHTS = str(ROOT.parent / "shared" / "models" / "mobilenet_v2_backbone_160.weights.h5")
work = Path(sys.argv[1]); n_first, n_later = int(sys.argv[2]), int(sys.argv[3])
label = sys.argv[4] if len(sys.argv) > 4 else "run"
classes = sorted(p.name for p in (IMAGES / "Training").iterdir())
photos, out = work / "photos", work / "out"
spark = build_spark_session("local[2]", "prof")
sc = spark.sparkContext
spark.range(1).write.format("noop").mode("overwrite").save()
def copy(names):
    for split in ("Training", "Test"):
        for n in names:
            shutil.copytree(IMAGES / split / n, photos / split / n, dirs_exist_ok=True)
if not (out / "manifest.json").exists():
    shutil.rmtree(work, ignore_errors=True)
    copy(classes[:n_first])
    run_pipeline(RunConfig(inputs=(str(photos),), output=str(out), weights=WEIGHTS, image_size=224), spark)
    shutil.copytree(out, work / "out0")
    copy(classes[n_first:n_first + n_later])
else:
    shutil.rmtree(out); shutil.copytree(work / "out0", out)
walls = []
def wrap(module, name, tag=None):
    original = getattr(module, name)
    @functools.wraps(original)
    def wrapped(*a, **k):
        what = tag or name
        if name == "write":
            what = "write " + a[2].rstrip("/").split("/")[-1]
        prev = sc.getLocalProperty("spark.job.description")
        sc.setJobDescription(what)
        t0 = time.monotonic()
        try:
            return original(*a, **k)
        finally:
            walls.append((what, time.monotonic() - t0))
            sc.setJobDescription(prev)
    setattr(module, name, wrapped)
wrap(incremental, "plan"); wrap(incremental, "write"); wrap(steps, "write")
wrap(incremental, "featurize_to_output"); wrap(stages, "fit"); wrap(stages, "project"); wrap(stages, "classify")
wrap(incremental, "commit"); wrap(stages, "prepare")
tracker = sc.statusTracker()
before = max(tracker.getJobIdsForGroup(None) or [0])
prof = cProfile.Profile()
t0 = time.perf_counter()
prof.enable()
m = run_pipeline(RunConfig(inputs=(str(photos),), output=str(out), weights=WEIGHTS, image_size=224, incremental="on"), spark)
prof.disable()
total = time.perf_counter() - t0
after = max(tracker.getJobIdsForGroup(None) or [0])
jobs = []
for i in range(before + 1, after + 1):
    try:
        with urllib.request.urlopen(f"{sc.uiWebUrl}/api/v1/applications/{sc.applicationId}/jobs/{i}") as r:
            jobs.append(json.loads(r.read()))
    except Exception as e:
        print("job", i, e)
def secs(j):
    p = lambda t: dt.datetime.strptime(t.replace("GMT", "+0000"), "%Y-%m-%dT%H:%M:%S.%f%z")
    return (p(j["completionTime"]) - p(j["submissionTime"])).total_seconds() if j.get("completionTime") else float("nan")
print(f"== {label}: total {total:.1f}s load {os.getloadavg()[0]:.1f} inc={m.incremental.reused}/{m.incremental.new}")
print("timings", m.timings_s)
print("walls", [(w, round(s, 2)) for w, s in walls])
print(f"{len(jobs)} jobs, {sum(j['numTasks'] for j in jobs)} tasks, {sum(len(j['stageIds']) for j in jobs)} stages")
per = {}
for j in jobs:
    d = j.get("description") or "-"
    for sid in j["stageIds"]:
        try:
            with urllib.request.urlopen(f"{sc.uiWebUrl}/api/v1/applications/{sc.applicationId}/stages/{sid}") as r:
                for st in json.loads(r.read()):
                    if st["status"] != "COMPLETE": continue
                    a = per.setdefault(d, [0, 0.0, 0.0, 0, 0])
                    a[0] += 1; a[1] += st["executorRunTime"] / 1e3; a[2] += st["executorCpuTime"] / 1e9
                    a[3] += st["inputBytes"]; a[4] += st["numCompleteTasks"]
        except Exception as e:
            pass
print("| step | stages run | tasks | executor run s | executor JVM CPU s | input MB |")
for d, (n, run, cpu, inb, t) in per.items():
    print(f"| {d} | {n} | {t} | {run:.2f} | {cpu:.2f} | {inb/1e6:.1f} |")
for j in sorted(jobs, key=lambda j: j["jobId"]):
    print(f"  {j['jobId']:4d} {j['numTasks']:4d}t {len(j['stageIds'])}st {j.get('numSkippedStages',0)}sk {secs(j):6.2f}s  {(j.get('description') or '-')[:30]:30s} {j['name'][:60]}")
pstats.Stats(prof).sort_stats("cumulative").print_stats(35) if "--prof" in sys.argv else None
spark.stop()
