"""Featurization throughput, in one run: a Keras loop, Spark's predict_batch_udf, `fruits run`, the engine alone.

    python benchmarks/featurize.py [--images DIR ...] [--sample] [--weights FILE] [--image-size 224]
                                   [--limit N] [--repeat N] [--contenders LIST] [--json FILE]

Default input: the 114-class Fruits-360 slice (14,820 photos); `--sample` takes the 4-class sample instead,
`--images` can be given several times (their photos are put side by side). Each contender is a separate
process, timed, with its process tree's RSS sampled:
- `keras-loop`: one Python process, Pillow decode + `predict_on_batch` (batches of 32, TensorFlow on every
  core): the baseline and the reference features;
- `engine-alone`: the LiteRT engine without Spark, one process per core, each reading, decoding and inferring
  its share of the photos with the job's own code (benchmarks/engine_alone.py): the pipeline's upper bound;
- `litert`, `keras`: `fruits run --engine E`, Spark local mode on every core, the real CLI;
- `predict_batch_udf`: Spark's own `pyspark.ml.functions.predict_batch_udf` with the same Keras model and
  weights, written as Spark documents it (benchmarks/predict_batch_udf.py).
Featurize throughput uses the time spent on the photos only (the loop's timed loop; a run's manifest
`timings_s.featurize`, from reading the files to `features/` written; the UDF's write job; the engine processes
from their common start). The whole-process wall clock (imports, Spark start, model preparation, PCA and
writes included) is printed too, with the PCA share of a run (`timings_s.pca / timings_s.total`). Every
contender's features are compared with the loop's, photo by photo (max abs diff). The goals of issue #12 are
checked at the end, all from this one run.

No number here is asserted by the test suite: machines are shared and noisy. Repeat the benchmark before
believing a difference under 15%.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
DEFAULT_IMAGES = SHARED / "data" / "fruits-360-114"
SAMPLE_IMAGES = SHARED / "data" / "fruits-360-sample"
DEFAULT_WEIGHTS = ROOT.parent / "shared" / "models" / "mobilenet_v2_backbone_160.weights.h5"


class TreeMemory:
    """Peak RSS of a process and all its descendants (the JVM and Python workers of a Spark run)."""

    def __init__(self, pid: int, interval: float = 0.2):
        import psutil

        self._root = psutil.Process(pid)
        self._interval = interval
        self.peak_total = 0
        self.peak_root = 0
        self.peak_jvm = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self):
        import psutil

        while not self._stop.is_set():
            try:
                processes = [self._root] + self._root.children(recursive=True)
                total = jvm = 0
                for process in processes:
                    try:
                        rss = process.memory_info().rss
                        total += rss
                        if process.name() == "java":
                            jvm += rss
                    except psutil.Error:
                        pass
                self.peak_total = max(self.peak_total, total)
                self.peak_jvm = max(self.peak_jvm, jvm)
                self.peak_root = max(self.peak_root, self._root.memory_info().rss)
            except psutil.Error:
                pass
            self._stop.wait(self._interval)

    def stop(self):
        self._stop.set()
        self._thread.join()


def image_paths(folders: list[Path], limit: int | None) -> list[tuple[Path, Path]]:
    """(folder, photo) for every photo under the folders, sorted; the first `limit` only when given."""
    paths = [(folder, p) for folder in folders
             for p in sorted(folder.rglob("*")) if p.suffix.lower() in (".jpg", ".jpeg", ".png")]
    return paths[:limit] if limit else paths


def stage_input(paths: list[tuple[Path, Path]], repeat: int, workdir: Path) -> Path:
    """The benchmark input: `repeat` copies of the photos (symlinks), each folder's Training/<label>/ layout
    kept under copyNNN/<folder name>/."""
    staged = workdir / "input"
    for copy in range(repeat):
        for folder, path in paths:
            target = staged / f"copy{copy:03d}" / folder.name / path.relative_to(folder)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(path.absolute())  # --images may be relative: a link is read from its own folder
    return staged


def staged_paths(staged: Path) -> list[str]:
    return sorted(str(p) for p in staged.rglob("*") if p.is_file() or p.is_symlink())


def run_measured(command: list[str], name: str) -> tuple[dict, TreeMemory]:
    """Run a contender in its own process tree, its RSS sampled; its last stdout line is its JSON result, to which
    the wall time and the tree's peak RSS are added."""
    started = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    memory = TreeMemory(process.pid)
    stdout, _ = process.communicate()
    memory.stop()
    if process.returncode:
        raise SystemExit(f"{name} failed with exit code {process.returncode}")
    result = json.loads(stdout.strip().splitlines()[-1])
    result.update(wall_s=time.monotonic() - started, peak_rss=memory.peak_total)
    return result, memory


def run_keras_loop(staged: Path, weights: Path, size: int, out: Path) -> dict:
    """The baseline, in its own process so its imports, model build and memory are its own."""
    result, _ = run_measured(
        [sys.executable, __file__, "--keras-loop-worker", str(staged), str(weights), str(size), str(out)],
        "keras loop")
    return result


def keras_loop_worker(staged: str, weights: str, size: int, out: str) -> None:
    """Pillow decode + keras predict_on_batch, 32 at a time: the plain single-process way."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    sys.path.insert(0, str(ROOT / "src"))
    from fruits.images import decode_and_resize

    model = keras.applications.MobileNetV2(input_shape=(size, size, 3), include_top=False, weights=None,
                                           pooling="avg")
    model.load_weights(weights)
    paths = staged_paths(Path(staged))
    model.predict_on_batch(np.zeros((1, size, size, 3), np.float32))  # warm-up outside the timed loop
    started = time.monotonic()
    features = []
    for start in range(0, len(paths), 32):
        batch = []
        for path in paths[start:start + 32]:
            with open(path, "rb") as handle:
                batch.append(decode_and_resize(handle.read(), size))
        pixels = keras.applications.mobilenet_v2.preprocess_input(np.stack(batch).astype(np.float32))
        features.append(np.asarray(model.predict_on_batch(pixels)))
    seconds = time.monotonic() - started
    np.save(out, np.concatenate(features))
    with open(out + ".paths", "w") as handle:
        handle.write("\n".join(paths))
    print(json.dumps({"images": len(paths), "featurize_s": seconds}))


def run_fruits(staged: Path, weights: Path, size: int, engine: str, output: Path, extra: list[str]) -> dict:
    started = time.monotonic()
    command = [sys.executable, "-m", "fruits", "-q", "run", str(staged), str(output), "--weights", str(weights),
               "--image-size", str(size), "--engine", engine, "--master", "local[*]", *extra]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    memory = TreeMemory(process.pid)
    process.wait()
    memory.stop()
    if process.returncode:
        raise SystemExit(f"fruits run --engine {engine} failed with exit code {process.returncode}")
    manifest = json.loads((output / "manifest.json").read_text())
    timings = manifest["timings_s"]
    return {
        "images": manifest["n_features"],
        "errors": manifest["n_errors"],
        "featurize_s": timings["featurize"],
        "pca_s": timings["pca"],
        "write_s": timings["write"],
        "run_total_s": timings["total"],
        "wall_s": time.monotonic() - started,
        "peak_rss": memory.peak_total,
        "driver_rss": memory.peak_root,
        "jvm_rss": memory.peak_jvm,
        "k": manifest["k"],
    }


def make_class_archive(staged: Path, weights: Path, size: int, workdir: Path) -> str:
    """The JVM's class archive that every `fruits run` but a machine's first maps (fruits.spark.class_archive):
    made here, untimed, by a small run of 32 of the photos when there is none for this Java and Spark, so that
    the timed runs start as a user's runs do. Returns what was found ("present", "made", "off").
    (Spark's predict_batch_udf contender runs without it: its own session, as a Spark user would start it.)"""
    from fruits.spark import class_archive

    folder = class_archive.default_folder()
    if folder is None:
        return "off"
    archive = class_archive.plan(folder)
    if archive is None or archive.writing is None:
        return "present"
    small = workdir / "archive-photos"
    every = staged_paths(staged)
    for path in map(Path, every[:: max(1, len(every) // 32)][:32]):  # photos of several labels: the classifier too
        target = small / path.relative_to(staged)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(path.resolve())
    print("# making the JVM's class archive (untimed, once for this Java and Spark) ...", flush=True)
    run_fruits(small, weights, size, "litert", workdir / "out-archive", [])
    shutil.rmtree(workdir / "out-archive")
    return "made"


def max_abs_diff(features: Path, reference: np.ndarray, reference_paths: list[str]) -> float:
    """Largest difference, over every photo and feature, between a Parquet of (path, features) and the loop's."""
    import pandas as pd

    rows = pd.read_parquet(features, columns=["path", "features"])
    if len(rows) != len(reference_paths):
        raise SystemExit(f"{features}: {len(rows)} photos featurized, the loop has {len(reference_paths)}")
    # Spark's paths are file: URIs of the staged symlinks; the loop's are the same symlinks.
    index = {path: i for i, path in enumerate(reference_paths)}
    local = [path[len("file:"):] if path.startswith("file:") else path for path in rows["path"]]
    ours = np.stack(rows["features"].to_numpy())
    return float(np.abs(ours - reference[[index[path] for path in local]]).max())


def max_abs_diff_arrays(features: np.ndarray, paths: list[str], reference: np.ndarray,
                        reference_paths: list[str]) -> float:
    index = {path: i for i, path in enumerate(reference_paths)}
    return float(np.abs(features - reference[[index[path] for path in paths]]).max())


def run_predict_batch_udf(staged: Path, weights: Path, size: int, output: Path) -> dict:
    """Spark's predict_batch_udf with the Keras model, in its own process (benchmarks/predict_batch_udf.py)."""
    result, memory = run_measured(
        [sys.executable, str(ROOT / "benchmarks" / "predict_batch_udf.py"), str(staged), str(weights), str(output),
         "--image-size", str(size)], "predict_batch_udf")
    result.update(driver_rss=memory.peak_root, jvm_rss=memory.peak_jvm)
    return result


def run_engine_alone(staged: Path, weights: Path, size: int, workdir: Path) -> dict:
    import engine_alone

    return engine_alone.run(staged_paths(staged), weights, size, workdir / "engine-alone", os.cpu_count() or 1)


def gib(value: int) -> str:
    return f"{value / 2**30:.2f} GiB"


CONTENDERS = ("keras-loop", "engine-alone", "litert", "predict_batch_udf", "keras")
LABELS = {
    "keras-loop": "Keras loop (1 process)",
    "engine-alone": "engine alone (LiteRT, no Spark)",
    "litert": "fruits run --engine litert",
    "keras": "fruits run --engine keras",
    "predict_batch_udf": "Spark predict_batch_udf (Keras)",
}
OURS = "litert"  # the default engine: the one the goals are about

# Issue #12's goals, all measured in one run: (text, value from the results or None, threshold).
GOALS = (
    ("featurize >= 4.0x the Keras loop", lambda r: rate(r[OURS]) / rate(r["keras-loop"]), 4.0),
    ("featurize >= 80% of the engine alone", lambda r: rate(r[OURS]) / rate(r["engine-alone"]), 0.80),
    ("whole run >= 2.5x the Keras loop process", lambda r: r["keras-loop"]["wall_s"] / r[OURS]["wall_s"], 2.5),
    ("PCA <= 10% of the run", lambda r: -r[OURS]["pca_s"] / r[OURS]["run_total_s"], -0.10),
    ("ours >= 5x predict_batch_udf", lambda r: rate(r[OURS]) / rate(r["predict_batch_udf"]), 5.0),
)


def rate(result: dict) -> float:
    return result["images"] / result["featurize_s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=Path, action="append",
                        help=f"folder of photos, repeatable (default {DEFAULT_IMAGES.relative_to(SHARED.parent)})")
    parser.add_argument("--sample", action="store_true", help=f"the 4-class sample ({SAMPLE_IMAGES.name}) instead")
    parser.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS, help="MobileNetV2 .weights.h5 file")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--limit", type=int, help="use only the first N photos")
    parser.add_argument("--repeat", type=int, default=1, help="N copies of the photos (symlinks), for scale")
    parser.add_argument("--contenders", default=",".join(CONTENDERS),
                        help=f"comma separated, run in this order; any of {', '.join(CONTENDERS)}")
    parser.add_argument("--fruits-args", default="", help="extra flags for fruits run, e.g. '--batch-size 32'")
    parser.add_argument("--json", type=Path, help="also write the results as JSON to this file")
    parser.add_argument("--table", type=Path, help="only print the table and goals of a JSON written by --json")
    args = parser.parse_args()
    if args.table:
        data = json.loads(args.table.read_text())
        print(f"# {data['images']} images from {', '.join(data['folders'])} x {data['repeat']} at "
              f"{data['image_size']}px, {data['cores']} cores")
        print_table(data["results"])
        print_goals(data["results"])
        return
    folders = ([SAMPLE_IMAGES] if args.sample else []) + (args.images or [])
    folders = folders or [DEFAULT_IMAGES]
    contenders = [c for c in args.contenders.split(",") if c]
    unknown = set(contenders) - set(CONTENDERS)
    if unknown:
        raise SystemExit(f"unknown contenders {sorted(unknown)}: choose from {', '.join(CONTENDERS)}")
    for folder in folders:
        if not folder.is_dir():
            raise SystemExit(f"no folder of photos at {folder} (see ../shared/README.md)")
    if not args.weights.is_file():
        raise SystemExit(f"need the weights in {args.weights} (see ../shared/README.md)")

    paths = image_paths(folders, args.limit)
    workdir = Path(tempfile.mkdtemp(prefix="fruits-bench-"))
    try:
        staged = stage_input(paths, args.repeat, workdir)
        n = len(paths) * args.repeat
        print(f"# {n} images ({len(paths)} x {args.repeat}) from {', '.join(f.name for f in folders)} at "
              f"{args.image_size}px, weights {args.weights.name}, {os.cpu_count()} cores, "
              f"{platform.processor() or platform.machine()}", flush=True)
        results: dict[str, dict] = {}
        reference = reference_paths = None
        archive = "not used"
        if any(name in ("litert", "keras") for name in contenders):
            archive = make_class_archive(staged, args.weights, args.image_size, workdir)
        for name in contenders:
            print(f"# {time.strftime('%H:%M:%S')} timing {LABELS[name]} ...", flush=True)
            if name == "keras-loop":
                results[name] = run_keras_loop(staged, args.weights, args.image_size, str(workdir / "loop.npy"))
                reference = np.load(workdir / "loop.npy")
                reference_paths = (workdir / "loop.npy.paths").read_text().splitlines()
            elif name == "engine-alone":
                results[name] = run_engine_alone(staged, args.weights, args.image_size, workdir)
                if reference is not None:
                    features = np.load(workdir / "engine-alone.npy")
                    alone_paths = (workdir / "engine-alone.npy.paths").read_text().splitlines()
                    results[name]["max_abs_diff"] = max_abs_diff_arrays(features, alone_paths, reference,
                                                                         reference_paths)
            elif name == "predict_batch_udf":
                output = workdir / "out-udf"
                results[name] = run_predict_batch_udf(staged, args.weights, args.image_size, output)
                if reference is not None:
                    results[name]["max_abs_diff"] = max_abs_diff(output, reference, reference_paths)
                shutil.rmtree(output)
            else:
                output = workdir / f"out-{name}"
                results[name] = run_fruits(staged, args.weights, args.image_size, name, output,
                                           args.fruits_args.split())
                if reference is not None:
                    results[name]["max_abs_diff"] = max_abs_diff(output / "features", reference, reference_paths)
                shutil.rmtree(output)
            results[name]["label"] = LABELS[name]
            r = results[name]
            print(f"#   {r['images']} photos, featurize {r['featurize_s']:.1f} s ({rate(r):.0f} images/s), "
                  f"whole process {r['wall_s']:.1f} s", flush=True)
            if args.json:  # written after each contender: a run cut short still leaves what it measured
                args.json.parent.mkdir(parents=True, exist_ok=True)
                args.json.write_text(json.dumps({"images": n, "image_size": args.image_size,
                                                 "cores": os.cpu_count(), "folders": [f.name for f in folders],
                                                 "repeat": args.repeat, "class_archive": archive,
                                                 "results": results}, indent=2))
        print_table(results)
        print_goals(results)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def print_table(results: dict[str, dict]) -> None:
    base = results.get("keras-loop")
    alone = results.get("engine-alone")
    print()
    print("| contender | images | featurize s | images/s | vs Keras loop | vs engine alone | whole run s "
          "| whole run vs Keras loop | PCA s | PCA share | peak RSS (tree) | max abs diff |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, r in results.items():
        ratio = f"{rate(r) / rate(base):.2f}x" if base else "-"
        efficiency = f"{rate(r) / rate(alone):.0%}" if alone else "-"
        if name == "engine-alone":
            whole = whole_ratio = "-"
        else:
            whole = f"{r['wall_s']:.1f}"
            whole_ratio = f"{base['wall_s'] / r['wall_s']:.2f}x" if base else "-"
        pca = f"{r['pca_s']:.1f}" if "pca_s" in r else "-"
        share = f"{r['pca_s'] / r['run_total_s']:.0%}" if "pca_s" in r else "-"
        diff = "0 (reference)" if name == "keras-loop" else (f"{r['max_abs_diff']:.1e}" if "max_abs_diff" in r
                                                               else "-")
        print(f"| {LABELS[name]} | {r['images']} | {r['featurize_s']:.1f} | {rate(r):.0f} | {ratio} | {efficiency} "
              f"| {whole} | {whole_ratio} | {pca} | {share} | {gib(r['peak_rss'])} | {diff} |")


def print_goals(results: dict[str, dict]) -> None:
    print()
    for text, measure, threshold in GOALS:
        try:
            value = measure(results)
        except KeyError:
            print(f"- {text}: not measured (a contender was left out)")
            continue
        shown = f"{-value:.0%}" if threshold < 0 else (f"{value:.0%}" if threshold < 1 else f"{value:.2f}x")
        print(f"- {text}: {shown} -> {'met' if value >= threshold else 'MISSED'}")


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--keras-loop-worker":
        keras_loop_worker(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])
    else:
        main()
