"""Write the "Preuve d'exécution" slide of docs/slides.md from the run reports kept in docs/evidence/.

    python docs/make_evidence.py [--evidence docs/evidence] [--slides docs/slides.md]

`fruits cloud run` (and `fruits cloud report CLUSTER`) write a run report: JSON with the cluster id, release,
region, instances, the phases' times from EMR's own timeline, the step's state and the output's manifest. Copy it
into docs/evidence/ and this script puts the newest one on the slide (between the `evidence:start` and
`evidence:end` markers). With no report there, the slide says plainly that nothing has run on AWS yet: the deck
never shows a cloud run that did not happen. `make slides` runs it first. Standard library only.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

HERE = Path(__file__).resolve().parent
START, END = "<!-- evidence:start -->", "<!-- evidence:end -->"

NOT_YET = """\
**Pas encore exécuté sur AWS.** Aucun rapport d'exécution dans `docs/evidence/`.

- Ce qui est prouvé sans AWS : la chaîne complète en local (notebook, 14 820 photos), les requêtes AWS contre un simulateur (moto) et `--dry-run`
- Ce que montrera cette diapositive après le premier `fruits cloud run` : l'identifiant du cluster, la région, les machines, la durée de chaque phase mesurée par EMR, l'état du traitement, le manifeste (photos, k) et le coût
"""  # noqa: E501 - one line per bullet: Marp turns a newline inside a bullet into a line break


def newest_report(folder: Path) -> tuple[Path, dict] | None:
    reports = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            continue
        if isinstance(data, dict) and data.get("cluster_id") and data.get("step"):
            reports.append((str(data.get("generated_at") or ""), path, data))
    if not reports:
        return None
    _, path, data = max(reports)
    return path, data


def minutes(seconds) -> str:
    return "?" if seconds is None else f"{seconds / 60:.1f}".replace(".", ",") + " min"


def from_report(path: Path, report: dict) -> str:
    phases = report.get("phases_s") or {}
    step = report.get("step") or {}
    manifest = report.get("manifest") or {}
    cost = report.get("cost") or {}
    machines = ", ".join(f"{i.get('count')} × {i.get('type')} ({i.get('role')})" for i in report.get("instances", []))
    ok = step.get("state") == "COMPLETED" and manifest.get("status") == "succeeded"
    lines = [
        f"**{'Exécuté sur AWS' if ok else 'Essai sur AWS, traitement non abouti'}** : cluster `{report.get('cluster_id')}`, "
        f"{report.get('release')}, région {report.get('region')}",
        "",
        f"- Machines : {machines}",
        f"- Démarrage (machines + bootstrap) : {minutes(phases.get('startup_provisioning_and_bootstrap'))} · "
        f"traitement : {minutes(phases.get('step_running'))} · cluster au total : {minutes(phases.get('cluster_total'))}",
        f"- Traitement : {step.get('state')}"
        + (f" ({step.get('state_reason')})" if step.get("state_reason") else ""),
    ]
    if manifest:
        lines.append(f"- Manifeste : {manifest.get('n_features')} photos décrites, {manifest.get('n_errors')} erreurs, "
                     f"k = {manifest.get('k')}")
    if cost.get("estimate_usd") is not None:
        lines.append(f"- Coût estimé sur les durées mesurées : {cost['estimate_usd']:.2f} $".replace(".", ",", 1))
    lines += ["", f"<span class=\"source\">Source : docs/evidence/{path.name} (`fruits cloud report`)</span>"]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--evidence", type=Path, default=HERE / "evidence")
    parser.add_argument("--slides", type=Path, default=HERE / "slides.md")
    args = parser.parse_args()
    found = newest_report(args.evidence)
    body = NOT_YET if found is None else from_report(*found)
    text = args.slides.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(START) + r".*?" + re.escape(END), re.DOTALL)
    if not pattern.search(text):
        parser.exit(2, f"make_evidence: no {START} ... {END} block in {args.slides}\n")
    updated = pattern.sub(lambda _m: f"{START}\n{body}{END}", text, count=1)
    if updated != text:
        args.slides.write_text(updated, encoding="utf-8")
    print(f"{args.slides.name}: " + ("no run report: 'pas encore exécuté sur AWS'" if found is None
                                     else f"run report {found[0].name}"))


if __name__ == "__main__":
    main()
