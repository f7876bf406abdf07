"""The upper bound of the pipeline: the inference engine alone on the same cores, without Spark.

    python benchmarks/engine_alone.py IMAGES WEIGHTS OUT_PREFIX [--image-size 224] [--processes N]

N processes (one per core by default, as Spark runs one task per core), each reading its share of the photos
from disk, decoding them and running the LiteRT engine with the same code, batch size and threads as the Spark
UDF (`fruits.extract.extract_features`, 1 thread, batches of 2). Everything a `fruits run` does per photo is
here except Spark: no JVM, no Arrow, no Parquet. The processes load the model first, then start together; the
time is from that start to the last one done. Prints one JSON line: images, featurize_s, peak_rss (sum over
the processes) and the features (OUT_PREFIX.npy, OUT_PREFIX.npy.paths) for the max abs diff.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# Photos handed to extract_features at a time: the Arrow batch of a run (RunConfig.arrow_batch_rows).
CHUNK = 512


def prepare_flatbuffer(weights: Path, image_size: int, target: Path) -> None:
    """Convert (or take from the cache) the LiteRT model, in a process of its own: TensorFlow stays out of here."""
    code = ("import sys; from fruits.model import WeightsSpec, load_weights; from fruits.engines import "
            "prepare_payload; w = load_weights(WeightsSpec.parse(sys.argv[1]), int(sys.argv[2])); "
            "open(sys.argv[3], 'wb').write(prepare_payload('litert', w, int(sys.argv[2])))")
    subprocess.run([sys.executable, "-c", code, str(weights), str(image_size), str(target)], check=True,
                   env={**os.environ, "PYTHONPATH": str(ROOT / "src")})


def worker(model: str, shard: str, image_size: int, out: str) -> None:
    """Load the model, say ready, wait for go, then read + decode + infer this shard's photos."""
    from fruits.engines import DEFAULT_BATCH_SIZE, LiteRTPredictor
    from fruits.extract import extract_features

    with open(model, "rb") as handle:
        predictor = LiteRTPredictor(handle.read(), threads=1)
    paths = Path(shard).read_text().splitlines()
    predictor.predict(np.zeros((DEFAULT_BATCH_SIZE["litert"], image_size, image_size, 3), np.uint8))
    print("ready", flush=True)
    sys.stdin.readline()
    started = time.monotonic()
    features = []
    for start in range(0, len(paths), CHUNK):
        contents = []
        for path in paths[start:start + CHUNK]:
            with open(path, "rb") as handle:
                contents.append(handle.read())
        result = extract_features(contents, predictor, image_size, batch_size=DEFAULT_BATCH_SIZE["litert"])
        features.extend(result.features)
    seconds = time.monotonic() - started
    np.save(out, np.stack(features))
    print(json.dumps({"images": len(paths), "seconds": seconds}), flush=True)


def run(paths: list[str], weights: Path, image_size: int, out_prefix: Path, processes: int) -> dict:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from featurize import TreeMemory

    model = out_prefix.with_suffix(".tflite")
    prepare_flatbuffer(weights, image_size, model)
    shards = [paths[i::processes] for i in range(processes)]
    children, memories = [], []
    for index, shard in enumerate(shards):
        shard_file = out_prefix.parent / f"{out_prefix.name}.shard{index}"
        shard_file.write_text("\n".join(shard))
        child = subprocess.Popen(
            [sys.executable, __file__, "--worker", str(model), str(shard_file), str(image_size),
             f"{shard_file}.npy"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        children.append(child)
        memories.append(TreeMemory(child.pid))
    for child in children:
        if child.stdout.readline().strip() != "ready":
            raise SystemExit("an engine-alone worker failed to load the model")
    started = time.monotonic()
    for child in children:
        child.stdin.write("go\n")
        child.stdin.flush()
    for child in children:
        child.wait()
    seconds = time.monotonic() - started
    for memory in memories:
        memory.stop()
    if any(child.returncode for child in children):
        raise SystemExit("an engine-alone worker failed")
    features = np.concatenate([np.load(out_prefix.parent / f"{out_prefix.name}.shard{i}.npy")
                               for i in range(processes)])
    np.save(f"{out_prefix}.npy", features)
    Path(f"{out_prefix}.npy.paths").write_text("\n".join(p for shard in shards for p in shard))
    return {"images": len(paths), "featurize_s": seconds, "wall_s": seconds,
            "peak_rss": sum(memory.peak_total for memory in memories), "processes": processes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("images", type=Path)
    parser.add_argument("weights", type=Path)
    parser.add_argument("out_prefix", type=Path)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    paths = sorted(str(p) for p in args.images.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    print(json.dumps(run(paths, args.weights, args.image_size, args.out_prefix, args.processes)))


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--worker":
        worker(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])
    else:
        main()
