"""Time and cost of `fruits run` on EMR, from the per-photo costs one `make bench` measured on this machine.

    python benchmarks/cost_model.py --bench BENCH_JSON [--photos 90000,1000000] [--nodes 2,4,8]
                                    [--node-speed 1.4] [--s3-get-ms 15] [--startup-min 15]

BENCH_JSON is what `benchmarks/featurize.py --json` wrote (its `litert` contender: `fruits run`, default engine);
or `--measured IMAGES,FEATURIZE_S,PCA_S,WRITE_S,WALL_S`, the same figures quoted from a table.
From it, per photo and per core of this machine: the featurize seconds, the PCA's executor seconds and the
writing of pca/ + pca_csv/; per run: the fixed seconds (Spark start, weights, listing, driver-side PCA).

The model, for N photos on a cluster of 1 primary + C core nodes (all m5.xlarge, EMR on EC2, on-demand):
    slots     = 4 x C            (m5.xlarge: 4 vCPUs; EMR runs one task per vCPU)
    per photo = (featurize + PCA + write core-seconds here) x 4 / node_speed   seconds of one slot
                + one S3 GET per photo, waited for by its task (binaryFile reads a file at a time)
    job       = fixed + N x per photo / slots
    billed    = startup (provisioning + bootstrap) + job + termination, for every node, primary included
    cost      = billed hours x (EC2 + EMR price per node) x (C + 1) + EBS + S3 GET requests
Prices: fruits.cloud.pricing (eu-west-3, on-demand, USD, dated there). Every assumption is printed with the table.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

REGION = "eu-west-3"
INSTANCE = "m5.xlarge"
VCPUS = 4
# docs/cloud.md: EMR gives each m5.xlarge about 64 GiB of EBS (gp2/gp3), about $0.10 per GiB-month.
EBS_GIB_PER_NODE = 64
EBS_USD_PER_GIB_MONTH = 0.10
HOURS_PER_MONTH = 730
S3_GET_USD_PER_1000 = 0.0004  # S3 Standard GET, eu-west-3 (same dated source as the price table)


@dataclass(frozen=True)
class MeasuredCosts:
    """Seconds measured here by one `make bench` run (`fruits run --engine litert`, local mode)."""

    cores: int
    images: int
    featurize_core_s: float  # per photo: featurize wall x cores / images
    pca_core_s: float  # per photo: the PCA's wall x cores / images (executors' moments + driver eigh, upper bound)
    write_core_s: float  # per photo: writing pca/, pca_csv/, pca_model/
    fixed_s: float  # per run: whole process minus the three stages above (JVM, weights, listing, manifest)

    @classmethod
    def from_figures(cls, text: str, cores: int) -> MeasuredCosts:
        """IMAGES,FEATURIZE_S,PCA_S,WRITE_S,WALL_S of a `fruits run` row quoted in a table (e.g. docs)."""
        images, featurize, pca, write, wall = (float(value) for value in text.split(","))
        return cls(cores=cores, images=int(images), featurize_core_s=featurize * cores / images,
                   pca_core_s=pca * cores / images, write_core_s=write * cores / images,
                   fixed_s=wall - featurize - pca - write)

    @classmethod
    def from_bench(cls, path: Path) -> MeasuredCosts:
        data = json.loads(path.read_text())
        run = data["results"]["litert"]
        cores = int(data.get("cores") or 2)
        n = run["images"]
        return cls(
            cores=cores,
            images=n,
            featurize_core_s=run["featurize_s"] * cores / n,
            pca_core_s=run["pca_s"] * cores / n,
            write_core_s=run["write_s"] * cores / n,
            fixed_s=run["wall_s"] - run["featurize_s"] - run["pca_s"] - run["write_s"],
        )


@dataclass(frozen=True)
class Assumptions:
    node_speed: float  # one m5.xlarge node (4 vCPUs) = this many cores of the machine that ran the bench
    s3_get_ms: float  # per photo, serial in its task
    startup_min: float  # provisioning + bootstrap, billed
    termination_min: float


def job_seconds(photos: int, core_nodes: int, measured: MeasuredCosts, assumed: Assumptions) -> float:
    slots = VCPUS * core_nodes
    # CPU seconds per photo on one m5 vCPU: the node does `node_speed` of our cores' work with 4 vCPUs.
    compute_per_slot = (measured.featurize_core_s + measured.pca_core_s + measured.write_core_s) * VCPUS \
        / assumed.node_speed
    per_photo_slot = compute_per_slot + assumed.s3_get_ms / 1000
    return measured.fixed_s + photos * per_photo_slot / slots


def node_price_per_hour() -> tuple[float, str]:
    from fruits.cloud.pricing import PRICES_AS_OF, node_price

    price = node_price(INSTANCE, REGION)
    if price is None:
        raise SystemExit(f"no price for {INSTANCE} in {REGION} in fruits.cloud.pricing")
    return price.per_hour, f"EC2 ${price.ec2}/h + EMR ${price.emr}/h, on-demand, {PRICES_AS_OF}"


def estimate(photos: int, core_nodes: int, measured: MeasuredCosts, assumed: Assumptions) -> dict:
    per_node_hour, _ = node_price_per_hour()
    job = job_seconds(photos, core_nodes, measured, assumed)
    billed_h = (assumed.startup_min * 60 + job + assumed.termination_min * 60) / 3600
    nodes = core_nodes + 1
    compute = billed_h * per_node_hour * nodes
    ebs = nodes * EBS_GIB_PER_NODE * EBS_USD_PER_GIB_MONTH * billed_h / HOURS_PER_MONTH
    requests = photos / 1000 * S3_GET_USD_PER_1000
    return {"photos": photos, "core_nodes": core_nodes, "job_min": job / 60, "billed_h": billed_h,
            "cost_usd": compute + ebs + requests, "job_only_usd": job / 3600 * per_node_hour * nodes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--bench", type=Path, help="JSON from benchmarks/featurize.py --json")
    source.add_argument("--measured", help="IMAGES,FEATURIZE_S,PCA_S,WRITE_S,WALL_S of a fruits run --engine litert "
                                           "row quoted from a table, measured on --cores cores")
    parser.add_argument("--cores", type=int, default=2, help="cores of the machine that measured --measured")
    parser.add_argument("--photos", default="90000,1000000")
    parser.add_argument("--nodes", default="2,4,8", help="core node counts (a primary node is added)")
    parser.add_argument("--node-speed", type=float, default=1.4,
                        help="one m5.xlarge = this many cores of the bench machine (assumed, not measured)")
    parser.add_argument("--s3-get-ms", type=float, default=15.0, help="S3 GET latency per photo, per task")
    parser.add_argument("--startup-min", type=float, default=15.0, help="EMR provisioning + bootstrap, minutes")
    parser.add_argument("--termination-min", type=float, default=2.0)
    args = parser.parse_args()

    measured = (MeasuredCosts.from_bench(args.bench) if args.bench
                else MeasuredCosts.from_figures(args.measured, args.cores))
    origin = args.bench.name if args.bench else "--measured"
    assumed = Assumptions(args.node_speed, args.s3_get_ms, args.startup_min, args.termination_min)
    _, price_source = node_price_per_hour()
    print(f"measured ({origin}: {measured.images} photos, {measured.cores} cores), per photo per core: "
          f"featurize {1e3 * measured.featurize_core_s:.2f} ms, PCA {1e3 * measured.pca_core_s:.2f} ms, "
          f"writes {1e3 * measured.write_core_s:.2f} ms; fixed per run {measured.fixed_s:.0f} s")
    print(f"assumed: 1 {INSTANCE} (4 vCPUs) = {assumed.node_speed} bench cores; S3 GET {assumed.s3_get_ms:.0f} ms "
          f"per photo, serial in its task; startup {assumed.startup_min:.0f} min + termination "
          f"{assumed.termination_min:.0f} min billed on every node; 1 primary + C core nodes; {REGION} {price_source}; "
          f"EBS {EBS_GIB_PER_NODE} GiB/node at ${EBS_USD_PER_GIB_MONTH}/GiB-month; S3 GET "
          f"${S3_GET_USD_PER_1000}/1,000; no VAT, no S3 storage, no data transfer")
    print()
    print("| photos | core nodes | job min | billed h (cluster) | cost USD | of which the job alone USD |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    for photos in (int(p) for p in args.photos.split(",")):
        for nodes in (int(c) for c in args.nodes.split(",")):
            row = estimate(photos, nodes, measured, assumed)
            print(f"| {photos:,} | {nodes} | {row['job_min']:.1f} | {row['billed_h']:.2f} | "
                  f"{row['cost_usd']:.2f} | {row['job_only_usd']:.2f} |")


if __name__ == "__main__":
    main()
