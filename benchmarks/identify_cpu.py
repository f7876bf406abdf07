"""Where one identify's CPU goes: CPU milliseconds per stage of one `/api/identify` call, for each number of views.

    python benchmarks/identify_cpu.py OUTPUT [--views 1 2 3 4 6] [--batch 0] [--threads 1] [--repeat 2] [--json]

In this process, one call at a time, BLAS limited to one thread as `fruits serve` does: every stage of a call as
the server runs it (fruits.web.routers.identify, fruits.identify.service), timed with the CPU clock of the process
(time.process_time: every thread, so an interpreter with 2 threads is charged for both), so the figures hardly
depend on what else runs on the machine (a busy machine still slows caches a little: compare figures taken back
to back). The wall time of a call is printed next to its CPU: with one thread they are about equal on an idle
machine.

`--batch`: images per call of the model (0: all the views of a photo in one call; identify's own setting is
fruits.identify.service.VIEWS_PER_CALL); `--threads`: threads of each LiteRT interpreter (identify: 1, and one
interpreter per core so requests run side by side). Each combination of --views, --batch, --threads is one row.

The photos are those `benchmarks/serve.py` sends: the Test photos of the grocery set (348x348 JPEGs) and, as every
10th request, a 4000x3000 JPEG with an EXIF rotation; "request" is that 9:1 mix, the CPU a served identify needs
(without the HTTP server's own work: benchmarks/serve.py prints the server's CPU per request for that).

Stages: `strip` (the web layer cuts the metadata out), `decode` (Identifier.pixels: the photo checked, stripped,
decoded once and cut into views), `model` (the views through the run's LiteRT model, one call), `project` (the
PCA projection of the views), `knn` (the nearest references of view 0: similar photos, familiarity), `linear`
(the run's classifier on every view), `answer` (kinds, verdict, card), `json` (the answer as the API sends it).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("strip", "decode", "model", "project", "knn", "linear", "answer", "json")


def one_call(identifier, photo: bytes, similar: int = 8) -> dict[str, float]:
    """CPU seconds of each stage of one identify call, in the order the server runs them."""
    from fastapi.encoders import jsonable_encoder

    from fruits.identify import strip_metadata
    from fruits.identify.service import run_model
    from fruits.web.routers.identify import _answer_json

    clock = time.process_time
    spent = {}
    t = clock()
    photo = strip_metadata(photo)
    spent["strip"], t = clock() - t, clock()
    pixels = identifier.pixels(photo)
    spent["decode"], t = clock() - t, clock()
    features = run_model(identifier.run, identifier.threads).predict(pixels)
    spent["model"], t = clock() - t, clock()
    views = identifier.run.projection.project(features)
    spent["project"], t = clock() - t, clock()
    result = identifier.classifier.classify(views[:1])
    spent["knn"], t = clock() - t, clock()
    classes, scores, method = identifier.label_scores(views)
    spent["linear"], t = clock() - t, clock()
    answer = identifier._answer(result, views[0], classes, scores, method, 3, similar)
    spent["answer"], t = clock() - t, clock()
    json.dumps(jsonable_encoder(_answer_json(answer)))
    spent["json"] = clock() - t
    return spent


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output")
    parser.add_argument("--views", type=int, nargs="+", default=[1, 2, 3, 4, 6])
    parser.add_argument("--batch", type=int, nargs="+", default=[None], help="images per model call (0: all)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1], help="threads of the LiteRT interpreter")
    parser.add_argument("--repeat", type=int, default=2, help="passes over the photos (the first call is dropped)")
    parser.add_argument("--query-photos", default=str(ROOT.parent / "shared" / "data" / "grocery-store-fruit"
                                                      / "Test"))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    from threadpoolctl import threadpool_limits

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from serve import rotated_phone_photo

    from fruits.engines import LiteRTPredictor
    from fruits.identify import Identifier
    from fruits.identify import service
    from fruits.run_output import open_run_output

    run = open_run_output(args.output)
    started = time.monotonic()
    base = Identifier.for_run(run)
    base.warm()
    print(f"{args.output}: image size {run.manifest.image_size}, k={run.projection.k}, "
          f"{base.classifier.size} references ({base.classifier.index.kind} search), classifier "
          f"{'logistic' if base.linear is not None else 'knn'}; ready in {time.monotonic() - started:.1f} s",
          file=sys.stderr)
    shop = [p.read_bytes() for p in sorted(Path(args.query_photos).rglob("*.jpg"))]
    big = rotated_phone_photo(shop[0])
    table = {}
    key = service._model_key(run)
    payload = service._litert_payload(run, run.manifest.image_size) if run.manifest.engine == "litert" else None
    with threadpool_limits(limits=1, user_api="blas"):
        for n_views in args.views:
            for batch in args.batch:
                for threads in args.threads:
                    if payload is not None and (batch is not None or threads != 1):
                        # The server's model, rebuilt with this batch size and thread count.
                        service._MODELS[key] = service._RunModel([LiteRTPredictor(payload, threads)],
                                                                 batch or None)
                    batch_used = service._MODELS[key].batch_size
                    identifier = Identifier(run, base.classifier, base.reference_rows, base.facts, views=n_views,
                                            linear=base.linear or False)
                    one_call(identifier, shop[0])  # the first call sizes the interpreter's tensors
                    rows = {"shop": [], "big": []}
                    wall = time.perf_counter()
                    for _ in range(args.repeat):
                        for photo in shop:
                            rows["shop"].append(one_call(identifier, photo))
                        for _ in range(3):
                            rows["big"].append(one_call(identifier, big))
                    wall_ms = 1000 * (time.perf_counter() - wall) / sum(len(r) for r in rows.values())
                    means = {kind: {s: 1000 * float(np.mean([r[s] for r in found])) for s in STAGES}
                             for kind, found in rows.items()}
                    means["request"] = {s: 0.9 * means["shop"][s] + 0.1 * means["big"][s] for s in STAGES}
                    for kind in ("shop", "big", "request"):
                        means[kind]["total"] = sum(means[kind][s] for s in STAGES)
                    means["wall_ms_per_call"] = wall_ms
                    means["calls"] = {kind: len(found) for kind, found in rows.items()}
                    table[f"views={n_views} batch={batch_used or 'all'} threads={threads}"] = means
    if args.json:
        print(json.dumps({"output": args.output, "image_size": run.manifest.image_size, "settings": table},
                         indent=2))
        return 0
    print(f"CPU ms per call (time.process_time), image size {run.manifest.image_size}; "
          "request = 0.9 shop + 0.1 big")
    print(f"{'setting':30s} {'photo':>7s} " + " ".join(f"{s:>7s}" for s in STAGES) + f" {'total':>7s}")
    for setting, means in table.items():
        for kind in ("shop", "big", "request"):
            print(f"{setting:30s} {kind:>7s} " + " ".join(f"{means[kind][s]:7.1f}" for s in (*STAGES, "total")))
        print(f"{'':30s} wall time per call (shop and big as run): {means['wall_ms_per_call']:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
