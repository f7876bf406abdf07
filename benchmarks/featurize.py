"""Featurization throughput: `fruits run` engines against a single-process Keras loop, in one run.

    python benchmarks/featurize.py [--images DIR] [--weights FILE] [--image-size 224] [--limit N] [--repeat N]

For each contender, a separate process is started and timed, and its process tree's RSS is sampled:
- `keras-loop`: one Python process, Pillow decode + `predict_on_batch` (batches of 32), the baseline;
- `fruits run --engine E` for each engine: Spark local mode on every core, the real CLI.
Featurize throughput uses the time spent on the images only (the loop's timed loop; the run's manifest
`timings_s.featurize`, from reading the files to `features/` written). The whole-process wall clock
(imports, Spark start, model preparation, PCA and writes included) is printed too. Every engine's
features are compared with the loop's, photo by photo (max abs diff).

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
DEFAULT_IMAGES = ROOT.parent / "shared" / "data" / "fruits-360-sample"
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


def image_paths(images: Path, limit: int | None) -> list[Path]:
    paths = sorted(p for p in images.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    return paths[:limit] if limit else paths


def stage_input(paths: list[Path], images: Path, repeat: int, workdir: Path) -> Path:
    """The benchmark input: `repeat` copies of the photos (symlinks), keeping the Training/<label>/ layout."""
    staged = workdir / "input"
    for copy in range(repeat):
        for path in paths:
            target = staged / f"copy{copy:03d}" / path.relative_to(images)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(path)
    return staged


def run_keras_loop(staged: Path, weights: Path, size: int, out: Path) -> dict:
    """The baseline, in its own process so its imports, model build and memory are its own."""
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, __file__, "--keras-loop-worker", str(staged), str(weights), str(size), str(out)],
        stdout=subprocess.PIPE, text=True,
    )
    memory = TreeMemory(process.pid)
    stdout, _ = process.communicate()
    memory.stop()
    if process.returncode:
        raise SystemExit(f"keras loop failed with exit code {process.returncode}")
    result = json.loads(stdout.strip().splitlines()[-1])
    result.update(wall_s=time.monotonic() - started, peak_rss=memory.peak_total)
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
    paths = sorted(str(p) for p in Path(staged).rglob("*") if p.is_file() or p.is_symlink())
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


def max_abs_diff(output: Path, reference: np.ndarray, reference_paths: list[str], staged: Path) -> float:
    import pandas as pd

    rows = pd.read_parquet(output / "features", columns=["path", "features"])
    # The run's paths are file: URIs of the staged symlinks; the loop's are the same symlinks.
    index = {path: i for i, path in enumerate(reference_paths)}
    worst = 0.0
    for path, vector in zip(rows["path"], rows["features"]):
        local = path[len("file:"):] if path.startswith("file:") else path
        worst = max(worst, float(np.abs(np.asarray(vector) - reference[index[local]]).max()))
    return worst


def gib(value: int) -> str:
    return f"{value / 2**30:.2f} GiB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=Path, default=DEFAULT_IMAGES, help="folder of photos (shared sample)")
    parser.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS, help="MobileNetV2 .weights.h5 file")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--limit", type=int, help="use only the first N photos")
    parser.add_argument("--repeat", type=int, default=1, help="N copies of the photos, for scale")
    parser.add_argument("--engines", default="litert,keras", help="fruits engines to time (comma separated)")
    parser.add_argument("--skip-loop", action="store_true", help="do not time the Keras loop (no ratios then)")
    parser.add_argument("--fruits-args", default="", help="extra flags for fruits run, e.g. '--batch-size 32'")
    parser.add_argument("--json", type=Path, help="also write the results as JSON to this file")
    args = parser.parse_args()
    if not args.images.is_dir() or not args.weights.is_file():
        raise SystemExit(f"need photos in {args.images} and weights in {args.weights} (see ../shared/README.md)")

    paths = image_paths(args.images, args.limit)
    workdir = Path(tempfile.mkdtemp(prefix="fruits-bench-"))
    try:
        staged = stage_input(paths, args.images, args.repeat, workdir)
        n = len(paths) * args.repeat
        print(f"# {n} images ({len(paths)} x {args.repeat}) at {args.image_size}px, weights {args.weights.name}, "
              f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}", flush=True)
        results: dict[str, dict] = {}
        reference = reference_paths = None
        if not args.skip_loop:
            print("# timing keras-loop ...", flush=True)
            results["keras-loop"] = run_keras_loop(staged, args.weights, args.image_size, str(workdir / "loop.npy"))
            reference = np.load(workdir / "loop.npy")
            reference_paths = (workdir / "loop.npy.paths").read_text().splitlines()
        for engine in [e for e in args.engines.split(",") if e]:
            print(f"# timing fruits run --engine {engine} ...", flush=True)
            output = workdir / f"out-{engine}"
            results[engine] = run_fruits(staged, args.weights, args.image_size, engine, output,
                                         args.fruits_args.split())
            if reference is not None:
                results[engine]["max_abs_diff"] = max_abs_diff(output, reference, reference_paths, staged)
            shutil.rmtree(output)
        print_table(results)
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps({"images": n, "image_size": args.image_size, "results": results},
                                            indent=2))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def print_table(results: dict[str, dict]) -> None:
    base = results.get("keras-loop")
    base_rate = base["images"] / base["featurize_s"] if base else None
    print()
    print("| engine | images | featurize s | images/s | ratio to keras-loop | max abs diff | peak RSS (tree) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, r in results.items():
        rate = r["images"] / r["featurize_s"]
        ratio = f"{rate / base_rate:.2f}x" if base_rate else "-"
        diff = "0 (reference)" if name == "keras-loop" else (f"{r['max_abs_diff']:.1e}" if "max_abs_diff" in r
                                                               else "-")
        print(f"| {name} | {r['images']} | {r['featurize_s']:.1f} | {rate:.1f} | {ratio} | {diff} | "
              f"{gib(r['peak_rss'])} |")
    print()
    print("| engine | whole process wall s | ratio to keras-loop | PCA s | PCA share of the run "
          "| Python driver peak RSS | JVM peak RSS |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, r in results.items():
        ratio = f"{base['wall_s'] / r['wall_s']:.2f}x" if base else "-"
        if name == "keras-loop":
            print(f"| {name} | {r['wall_s']:.1f} | 1.00x | - | - | - | - |")
        else:
            share = r["pca_s"] / r["run_total_s"]
            print(f"| {name} | {r['wall_s']:.1f} | {ratio} | {r['pca_s']:.1f} | {share:.0%} | "
                  f"{gib(r['driver_rss'])} | {gib(r['jvm_rss'])} |")


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--keras-loop-worker":
        keras_loop_worker(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])
    else:
        main()
