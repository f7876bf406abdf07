#!/usr/bin/env bash
# EMR bootstrap action of `fruits cloud up` / `fruits cloud run`; runs on every node before Spark starts.
#
# EMR 7 runs Amazon Linux 2023, whose python3 is 3.9; TensorFlow 2.21 needs Python >= 3.10. This installs
# AL2023's python3.11 package, makes a venv in /opt/fruits/venv with pinned dependencies, and installs the fruits
# wheel given as $1 (s3://BUCKET/code/fruits-VERSION-py3-none-any.whl) without its dependencies: Spark itself
# comes from EMR (/usr/lib/spark), pip's pyspark would only shadow it. The cluster's spark-env and
# spark-defaults point PYSPARK_PYTHON at this venv.
#
# Weights are not fetched here: the Spark driver reads them once (ImageNet download or an s3:// file) and
# broadcasts them, so executors never reach the internet for them.
set -euo pipefail

readonly WHEEL_URI="${1:?usage: bootstrap.sh s3://BUCKET/code/fruits-VERSION-py3-none-any.whl}"
readonly PYTHON=python3.11
readonly VENV=/opt/fruits/venv

# Pinned for Spark 3.5 (EMR 7): numpy < 2 and pandas 2.2 are what pyspark 3.5 supports; TensorFlow 2.21 and
# Keras 3 on the driver, the LiteRT interpreter on the executors, scipy for the classifier's fit on the driver
# (1.14 is the last line to support numpy 1.26). Checked to resolve together for cp311.
readonly PINNED=(
  "numpy==1.26.4"
  "scipy==1.14.1"
  "pandas==2.2.3"
  "pyarrow==17.0.0"
  "pillow==11.3.0"
  "keras==3.15.1"
  "tensorflow-cpu==2.21.0"
  "ai-edge-litert==2.3.0"
)

log() {
  printf 'fruits bootstrap: %s\n' "$*" >&2
}

case "${WHEEL_URI}" in
  s3://*.whl) ;;
  *)
    log "expected an s3:// URI of a .whl file, got: ${WHEEL_URI}"
    exit 2
    ;;
esac

log "installing ${PYTHON}"
sudo dnf install -y -q "${PYTHON}" "${PYTHON}-pip"

log "creating ${VENV}"
sudo mkdir -p "$(dirname "${VENV}")"
sudo "${PYTHON}" -m venv "${VENV}"
sudo "${VENV}/bin/python" -m pip install --quiet --no-cache-dir --upgrade pip
sudo "${VENV}/bin/python" -m pip install --quiet --no-cache-dir "${PINNED[@]}"

workdir="$(mktemp -d)"
trap 'rm -rf "${workdir}"' EXIT
wheel="${workdir}/$(basename "${WHEEL_URI}")"
log "installing ${WHEEL_URI}"
aws s3 cp --only-show-errors "${WHEEL_URI}" "${wheel}"
sudo "${VENV}/bin/python" -m pip install --quiet --no-cache-dir --no-deps "${wheel}"

# Fail the bootstrap (and so the cluster start, before any cost of a step) if the venv cannot run the job: the
# step runs `fruits run` through the entry script, so its parser must build here with exactly these packages
# (importing `fruits` alone once passed while the step died on a missing module). pyspark is not in the venv: it
# comes from EMR's Spark at run time, and `fruits run --help` does not need it. Run from / so that no folder named
# fruits in the working directory can stand in for the installed package.
check_venv() {
  cd / &&
    "${VENV}/bin/python" -c 'import fruits, numpy, pandas, pyarrow, PIL, keras, ai_edge_litert' &&
    "${VENV}/bin/python" -m fruits run --help
}
if ! check_output="$(check_venv 2>&1)"; then
  log "FAILED: ${VENV} cannot run 'python -m fruits run --help'; the step would fail. Its output:"
  printf '%s\n' "${check_output}" | tail -n 25 >&2
  exit 1
fi
log "ready: $("${VENV}/bin/python" --version), 'python -m fruits run --help' works"
