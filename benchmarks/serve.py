"""`fruits serve` at scale: start-up time, memory, and /api/identify latency under concurrent clients.

    python benchmarks/serve.py --from OUTPUT [--photos 100000] [--clients 16] [--requests 320]

Builds a run OUTPUT of --photos photos in the real output format (manifest.json, pca_model/, pca/, classifier/)
from a real run: the same projection, model and classifier, and PCA coordinates drawn around each real label's
mean with that label's spread (clustered like the real ones). Each synthetic photo is a symbolic link to a real
photo of its label, so pages and thumbnails work. features/ (1,280 floats a photo) is not written: serve never
reads it. Then starts a real `fruits serve` process and measures:

- start-up: from the process start to the first 200 of /healthz (the identify model is built before the server
  listens, so this includes it), and the server's own log of how long classifying the photos took;
- RSS of the server process after start-up and after the load;
- /api/identify latency of one client alone (p50 of 20 calls), then (p50, p99, max) with --clients concurrent
  clients posting real shop photos (the Test photos of --query-photos), and the same for a 4000x3000 photo with
  an EXIF rotation (every 10th request), whose answer must be the same kind as the upright photo's.
- the server's CPU per answer in both phases (user + system, every thread: what bounds the throughput whatever
  else runs), and the part of it spent on the event loop's thread (HTTP, routing, middleware, sending);
- the clients' own CPU per request in the load phase: they run on the same machine as the server, so what they
  spend is taken from the server's cores. The load phase's clients are plain `http.client` connections (about 1
  ms of CPU a request; `--client httpx`, the client used before, spends about 8 ms, a fifth of 2 cores at 50
  requests a second: docs/identify.md, "Latency");
- the 8 slowest requests of the load phase and when each was sent: spread over the run, the tail is queueing;
  bunched at one moment, a pause stopped every request in flight then.

The identify model is a LiteRT conversion cached per machine (by the weights' sha256): the server log lines
printed say whether this start found it in the cache (as after `fruits run` on the same machine) or converted it
(a first start on a new machine also imports TensorFlow: slower).

A benchmark, not a test: numbers depend on the machine and on what else runs on it.
"""

from __future__ import annotations

import argparse
import dataclasses
import http.client
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np


def build_output(source: str, target: Path, n_photos: int, seed: int = 0) -> dict:
    """A synthetic OUTPUT of n_photos at `target`, clustered like the real run at `source`."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from fruits.outputs import InputCounts
    from fruits.run_output import open_run_output

    run = open_run_output(source)
    images = run.images
    labelled = np.asarray([label is not None for label in images.labels])
    labels = sorted({str(v) for v in images.labels[labelled]})
    rng = np.random.default_rng(seed)
    target.mkdir(parents=True)
    photos = target / "photos"
    per_label = {}
    for label in labels:
        rows = np.nonzero(images.labels == label)[0]
        coords = images.coords[rows]
        per_label[label] = (coords.mean(axis=0), coords.std(axis=0), [str(images.paths[r]) for r in rows])
    # Photo i: label i mod L, Test one photo in ten; coordinates drawn in blocks (the same random stream as one
    # photo at a time), kept as float32 as the run writes them.
    k = run.projection.k
    means = np.stack([per_label[label][0] for label in labels])
    spreads = np.stack([per_label[label][1] for label in labels])
    which = np.arange(n_photos) % len(labels)
    splits = np.where(np.arange(n_photos) % 10 == 0, "Test", "Training")
    pca = np.empty((n_photos, k), dtype=np.float32)
    for start in range(0, n_photos, 10_000):
        block = which[start:start + 10_000]
        pca[start:start + len(block)] = means[block] + spreads[block] * rng.standard_normal((len(block), k))
    for split in ("Training", "Test"):
        for label in labels:
            (photos / split / label).mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n_photos):
        label = labels[which[i]]
        link = photos / splits[i] / label / f"synthetic_{i:06d}.jpg"
        real = per_label[label][2]
        real_path = real[(i // len(labels)) % len(real)]
        os.symlink(real_path[len("file:"):] if real_path.startswith("file:") else real_path, link)
        paths.append("file:" + str(link))
    out_labels = [labels[j] for j in which]
    counts = np.bincount(which, minlength=len(labels))
    table = pa.table({
        "path": pa.array(paths), "label": pa.array(out_labels), "split": pa.array(splits.tolist()),
        "pca": pa.ListArray.from_arrays(pa.array(np.arange(0, (len(pca) + 1) * k, k, dtype=np.int32)),
                                        pa.array(pca.ravel())),
    })
    (target / "pca").mkdir()
    pq.write_table(table, target / "pca" / "part-00000.parquet")
    source_dir = Path(source[len("file:"):] if source.startswith("file:") else source)
    shutil.copytree(source_dir / "pca_model", target / "pca_model")
    if (source_dir / "classifier").is_dir():
        shutil.copytree(source_dir / "classifier", target / "classifier")
    for name in ("features", "pca_csv", "errors"):
        (target / name).mkdir()
    manifest = dataclasses.replace(
        run.manifest, n_input=n_photos, n_features=n_photos, n_errors=0, output=str(target),
        inputs=(InputCounts(uri=str(photos), n_input=n_photos, n_features=n_photos, n_errors=0),),
        labels={label: int(count) for label, count in zip(labels, counts)}).to_dict()
    manifest["synthetic"] = f"benchmarks/serve.py from {source}"  # not a manifest field: readers ignore it
    (target / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    (target / "_fruits_output").write_text("")
    return {"photos": n_photos, "labels": len(labels), "k": k}


def rotated_phone_photo(upright: bytes) -> bytes:
    """A 4000x3000 JPEG whose pixels are stored turned and whose EXIF orientation (6) turns them upright."""
    from PIL import Image

    image = Image.open(io.BytesIO(upright)).convert("RGB").resize((3000, 4000), Image.Resampling.BICUBIC)
    stored = image.transpose(Image.Transpose.ROTATE_90)  # orientation 6 rotates it back by 270 degrees
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    stored.save(buffer, "JPEG", quality=90, exif=exif.tobytes())
    return buffer.getvalue()


def rss_mb(pid: int) -> float:
    import psutil

    return psutil.Process(pid).memory_info().rss / 1024**2


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system, every thread) the process has used so far."""
    import psutil

    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def event_loop_cpu_s(pid: int) -> float:
    """CPU seconds of the server's main thread, where uvicorn's event loop runs (HTTP, routing, middleware,
    sending): the rest of a call runs on the identify workers."""
    import psutil

    for thread in psutil.Process(pid).threads():
        if thread.id == pid:
            return thread.user_time + thread.system_time
    return 0.0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="source", required=True, help="a real `fruits run` OUTPUT to imitate")
    parser.add_argument("--photos", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=320)
    parser.add_argument("--query-photos", default=str(Path(__file__).resolve().parents[1].parent / "shared" / "data"
                                                      / "grocery-store-fruit" / "Test"))
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--work", help="folder for the synthetic OUTPUT (default: a temporary one, removed)")
    parser.add_argument("--serve-output", help="serve this OUTPUT as it is instead of building a synthetic one")
    parser.add_argument("--client", choices=("light", "httpx"), default="light",
                        help="the load phase's HTTP client: light (http.client, ~1 ms of CPU a request) or httpx "
                             "(~8 ms a request, the clients' CPU taken from the server's 2 cores: the figures "
                             "before 2026-12-02)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    import httpx

    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="fruits-serve-bench-"))
    # The machine's load when the measure starts (and, in load_average_1_5_15, when it ends): on a shared
    # machine, say it next to the figures.
    results: dict = {"load_average_at_start": [round(v, 2) for v in os.getloadavg()]}
    try:
        if args.serve_output:
            output = args.serve_output
        else:
            started = time.monotonic()
            results["output"] = build_output(args.source, work / "output", args.photos)
            results["output"]["build_s"] = round(time.monotonic() - started, 1)
            output = str(work / "output")
        queries = sorted(Path(args.query_photos).rglob("*.jpg"))
        photos = [q.read_bytes() for q in queries]
        big = rotated_phone_photo(photos[0])
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        log_path = work / "serve.log"
        started = time.monotonic()
        with open(log_path, "w") as log:
            server = subprocess.Popen([sys.executable, "-m", "fruits", "serve", output, "--port", str(args.port)],
                                      stdout=log, stderr=subprocess.STDOUT, env=env)
        base = f"http://127.0.0.1:{args.port}"
        try:
            while True:
                if server.poll() is not None:
                    print(log_path.read_text()[-3000:], file=sys.stderr)
                    raise SystemExit("fruits serve exited during start-up")
                try:
                    if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)
            results["startup_s"] = round(time.monotonic() - started, 2)
            results["rss_after_startup_mb"] = round(rss_mb(server.pid), 1)
            # The server describes a sample of photos in the background after start-up (seconds): wait for it, so
            # its CPU is not counted as the identify calls' (server_cpu_ms_per_request).
            waited = time.monotonic()
            while "described" not in log_path.read_text() and time.monotonic() - waited < 120:
                time.sleep(0.2)
            results["background_describe_s"] = round(time.monotonic() - waited, 1)
            peak = [results["rss_after_startup_mb"]]

            def sample_rss(stop: threading.Event):
                while not stop.wait(0.2):
                    peak.append(rss_mb(server.pid))

            with httpx.Client(timeout=60) as client:
                upright = client.post(base + "/api/identify", content=photos[0],
                                      headers={"content-type": "image/jpeg"}).json()
                turned = client.post(base + "/api/identify", content=big,
                                     headers={"content-type": "image/jpeg"}).json()
                # One client alone: the latency of one call, without queueing behind others.
                alone, cpu_alone, loop_alone = [], cpu_s(server.pid), event_loop_cpu_s(server.pid)
                for photo in photos[:20]:
                    t0 = time.perf_counter()
                    client.post(base + "/api/identify", content=photo, headers={"content-type": "image/jpeg"})
                    alone.append(1000 * (time.perf_counter() - t0))
                cpu_alone = cpu_s(server.pid) - cpu_alone
                loop_alone = event_loop_cpu_s(server.pid) - loop_alone
            results["rotated_photo"] = {"bytes": len(big), "upright_kind": upright["kind"],
                                        "rotated_kind": turned["kind"],
                                        "same_kind": upright["kind"] == turned["kind"]}
            results["one_client_ms"] = {"n": len(alone), "p50": round(statistics.median(alone), 1),
                                        "max": round(max(alone), 1),
                                        "server_cpu_ms_per_request": round(1000 * cpu_alone / len(alone), 1),
                                        "event_loop_cpu_ms_per_request": round(1000 * loop_alone / len(alone), 2)}
            local = threading.local()

            def post(body: bytes) -> int:
                """One POST of a photo on this client thread's own keep-alive connection: its status."""
                if args.client == "httpx":
                    client = getattr(local, "client", None) or httpx.Client(timeout=60)
                    local.client = client
                    return client.post(base + "/api/identify", content=body,
                                       headers={"content-type": "image/jpeg"}).status_code
                connection = getattr(local, "connection", None)
                if connection is None:
                    connection = local.connection = http.client.HTTPConnection("127.0.0.1", args.port, timeout=60)
                # The headers httpx sends (so the server does the same work, gzip included); the answer is read
                # whole but not decompressed or parsed: the load phase measures the server, not the client.
                connection.request("POST", "/api/identify", body=body, headers={
                    "content-type": "image/jpeg", "accept": "*/*", "accept-encoding": "gzip, deflate"})
                response = connection.getresponse()
                response.read()
                return response.status

            def one(i: int):
                body = big if i % 10 == 9 else photos[i % len(photos)]
                t0 = time.perf_counter()
                status = post(body)
                elapsed = time.perf_counter() - t0
                sent.append((t0, elapsed, i))
                return ("big" if body is big else "shop"), status, elapsed

            sent: list[tuple[float, float, int]] = []  # (sent at, latency, request): list.append is thread-safe
            stop = threading.Event()
            sampler = threading.Thread(target=sample_rss, args=(stop,), daemon=True)
            sampler.start()
            t0, cpu_load, loop_load = time.monotonic(), cpu_s(server.pid), event_loop_cpu_s(server.pid)
            cpu_clients = time.process_time()
            with ThreadPoolExecutor(args.clients) as pool:
                done = list(pool.map(one, range(args.requests)))
            wall, cpu_load = time.monotonic() - t0, cpu_s(server.pid) - cpu_load
            cpu_clients = time.process_time() - cpu_clients
            loop_load = event_loop_cpu_s(server.pid) - loop_load
            stop.set()
            sampler.join()
            results["rss_peak_mb"] = round(max(peak), 1)
            bad = [code for _, code, _ in done if code != 200]
            results["load"] = {"clients": args.clients, "requests": args.requests, "errors": len(bad),
                               "throughput_per_s": round(args.requests / wall, 1),
                               # CPU the server spent per answer (every thread): what bounds the throughput on
                               # a machine of n cores (n / CPU per answer), whatever else runs on it.
                               "server_cpu_ms_per_request": round(1000 * cpu_load / args.requests, 1),
                               "event_loop_cpu_ms_per_request": round(1000 * loop_load / args.requests, 2),
                               # The clients run on the same machine: their CPU is taken from the server's cores.
                               "client": args.client,
                               "client_cpu_ms_per_request": round(1000 * cpu_clients / args.requests, 2)}
            # When the slowest requests were sent: spread over the run, they are queueing (CPU-bound); bunched at
            # one moment, a pause (a collection, a background job, another process) stopped every request then.
            first = min(t for t, _, _ in sent)
            results["load"]["slowest"] = [{"request": i, "sent_at_s": round(t - first, 2), "ms": round(1000 * e, 1)}
                                          for t, e, i in sorted(sent, key=lambda r: -r[1])[:8]]
            for kind in ("shop", "big", "all"):
                times = sorted(1000 * t for k, _, t in done if kind == "all" or k == kind)
                if times:
                    results["load"][f"{kind}_ms"] = {
                        "n": len(times), "p50": round(statistics.median(times), 1),
                        "p99": round(times[min(len(times) - 1, int(0.99 * len(times)))], 1),
                        "max": round(times[-1], 1)}
            log_text = log_path.read_text()
            results["server_log"] = [line for line in log_text.splitlines()
                                     if any(word in line for word in ("classified", "identify is ready", "LiteRT",
                                                                      "weights", "described"))][:8]
            results["load_average_1_5_15"] = [round(v, 2) for v in os.getloadavg()]
        finally:
            server.terminate()
            try:
                server.wait(20)
            except subprocess.TimeoutExpired:
                server.kill()
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for key, value in results.items():
            print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
