"""Incremental run vs full run, when new photos arrive (issue #14's goal: incremental <= 30% of a full run).

    python benchmarks/incremental.py [--images ../shared/data/fruits-360-114] [--hold-out 14] [--json FILE]

1. copies the photos of all but `--hold-out` classes (every 8th class in name order) into a work folder and
   runs `fruits run` on it (the "previous" run, not timed for the comparison);
2. adds the held-out classes (~12% more photos) and runs `fruits run --incremental` into the same OUTPUT;
3. runs a full `fruits run` on the final folder into another OUTPUT.
Each run is the `fruits` command in a fresh process (JVM, TensorFlow and Spark start-up included, as a user sees
it), same flags, same machine, one after the other. When this Java and Spark have no JVM class archive yet
(fruits.spark.class_archive), the untimed previous run writes it, so the two timed runs map it as a user's runs
do. Prints the seconds of 2 and 3, their ratio, the counts of the incremental manifest and both manifests' stage
times; `--json` writes them to a file.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_IMAGES = ROOT.parent / "shared" / "data" / "fruits-360-114"
DEFAULT_WEIGHTS = ROOT.parent / "shared" / "models" / "mobilenet_v2_backbone_160.weights.h5"


def fruits_run(photos: Path, output: Path, flags: list[str]) -> tuple[float, dict]:
    command = [sys.executable, "-m", "fruits", "run", str(photos), str(output), *flags]
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    seconds = time.perf_counter() - started
    return seconds, json.loads((output / "manifest.json").read_text())


def class_archive_state() -> str:
    """Whether the JVM's class archive exists before the previous run ("present"), is written by it ("made by
    the previous run") or is switched off."""
    sys.path.insert(0, str(ROOT / "src"))
    from fruits.spark import class_archive

    folder = class_archive.default_folder()
    if folder is None:
        return "off"
    archive = class_archive.plan(folder)
    return "made by the previous run" if archive is not None and archive.writing else "present"


def copy_classes(images: Path, target: Path, classes: list[str]) -> int:
    copied = 0
    for split in sorted(path.name for path in images.iterdir() if path.is_dir()):
        for name in classes:
            source = images / split / name
            if source.is_dir():
                shutil.copytree(source, target / split / name, dirs_exist_ok=True)
                copied += sum(1 for _ in source.iterdir())
    return copied


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=Path, default=DEFAULT_IMAGES)
    parser.add_argument("--weights", default=str(DEFAULT_WEIGHTS))
    parser.add_argument("--hold-out", type=int, default=14, help="classes that arrive after the first run")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--work", type=Path, help="work folder (default: a temporary one, deleted at the end)")
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    args = parser.parse_args(argv)

    classes = sorted(path.name for path in (args.images / "Training").iterdir() if path.is_dir())
    step = max(1, len(classes) // args.hold_out)
    later = classes[::step][: args.hold_out]
    first = [name for name in classes if name not in later]
    work = args.work or Path(tempfile.mkdtemp(prefix="fruits-incremental-"))
    photos, output, full_output = work / "photos", work / "out", work / "full"
    flags = ["--weights", args.weights, "--image-size", str(args.image_size), "--master", args.master]
    try:
        archive = class_archive_state()
        n_first = copy_classes(args.images, photos, first)
        print(f"previous run: {n_first} photos of {len(first)} classes", flush=True)
        previous_seconds, _ = fruits_run(photos, output, flags)
        n_later = copy_classes(args.images, photos, later)
        print(f"{n_later} photos of {len(later)} classes arrive ({n_later / (n_first + n_later):.1%} of the folder)",
              flush=True)
        incremental_seconds, incremental = fruits_run(photos, output, [*flags, "--incremental"])
        full_seconds, full = fruits_run(photos, full_output, flags)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    figures = {
        "images": str(args.images.name),
        "image_size": args.image_size,
        "master": args.master,
        "class_archive": archive,
        "n_previous": n_first,
        "n_final": incremental["n_input"],
        "previous_run_s": round(previous_seconds, 1),
        "incremental_s": round(incremental_seconds, 1),
        "full_s": round(full_seconds, 1),
        "ratio": round(incremental_seconds / full_seconds, 3),
        "counts": {key: incremental["incremental"][key] for key in ("reused", "new", "changed", "retried", "removed")},
        "incremental_timings_s": incremental["timings_s"],
        "full_timings_s": full["timings_s"],
    }
    print(f"| run | photos featurized | seconds |\n| --- | ---: | ---: |\n"
          f"| full, final folder | {full['n_input']} | {full_seconds:.1f} |\n"
          f"| incremental | {incremental['incremental']['new'] + incremental['incremental']['changed']} "
          f"(reused {incremental['incremental']['reused']}) | {incremental_seconds:.1f} |\n"
          f"incremental / full = {figures['ratio']:.0%}")
    print("stage seconds, incremental:", incremental["timings_s"])
    print("stage seconds, full:       ", full["timings_s"])
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
