#!/usr/bin/env bash
# Runs W1 (N independent tasks, then a join) and W2 (a chain of 200 dependent tasks)
# with Heaven and with the tools our users would otherwise pick -- Snakemake, Parsl
# (thread pool) and Dask (distributed, one in-process worker) -- every task spawning
# /bin/true, as many at once as this machine has cores. Installs the peers from PyPI
# into a throw-away virtual environment. Prints one Markdown table.
#
# Usage: scripts/peers.sh [N]        (default N = 1000)
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-1000}"
CHAIN=200
CORES=$(nproc)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

swift build -c release --product heaven >&2
heaven="$PWD/.build/release/heaven"

python3 -m venv "$work/venv" >&2
"$work/venv/bin/pip" install -q --disable-pip-version-check snakemake parsl "dask[distributed]" >&2
py="$work/venv/bin/python"
versions=$("$py" - <<'PY'
import importlib.metadata as m
print(", ".join(f"{p} {m.version(p)}" for p in ["snakemake", "parsl", "dask", "distributed"]))
PY
)

# Each measurement prints: wall-seconds peak-KiB
measure() { /usr/bin/time -f "%e %M" "$@" 2>&1 >/dev/null | tail -1; }

cat > "$work/w1.yaml" <<YAML
kind: Workflow
name: w1
steps:
  - foreach: \${range($N)}
    as: i
    steps:
      - task: t
        run: [/bin/true]
  - task: join
    run: [/bin/true]
YAML
{
  echo "kind: Workflow"; echo "name: w2"; echo "steps:"
  for i in $(seq 0 $((CHAIN - 1))); do
    echo "  - task: s$i"
    if [ "$i" -eq 0 ]; then echo "    run: [/bin/true]"; else echo "    run: [/bin/true, '\${s$((i - 1)).ok}']"; fi
    echo "    outputs: {ok: {stdout: text}}"
  done
} > "$work/w2.yaml"

mkdir -p "$work/snake1" "$work/snake2"
cat > "$work/snake1/Snakefile" <<PY
rule all:
    input: "join"
rule t:
    output: "t/{i}"
    shell: "/bin/true && touch {output}"
rule join:
    input: expand("t/{i}", i=range($N))
    output: "join"
    shell: "/bin/true && touch {output}"
PY
cat > "$work/snake2/Snakefile" <<PY
rule all:
    input: "s/$((CHAIN - 1))"
rule s0:
    output: "s/0"
    shell: "/bin/true && touch {output}"
rule s:
    input: lambda w: f"s/{int(w.i) - 1}"
    output: "s/{i,[1-9][0-9]*}"
    shell: "/bin/true && touch {output}"
PY
cat > "$work/parsl_w.py" <<PY
import subprocess, sys
import parsl
from parsl.app.app import python_app
from parsl.config import Config
from parsl.executors.threads import ThreadPoolExecutor
parsl.load(Config(executors=[ThreadPoolExecutor(max_threads=$CORES)]))
@python_app
def t(*deps):
    import subprocess
    subprocess.run(["/bin/true"], check=True)
    return 0
if sys.argv[1] == "w1":
    futures = [t() for _ in range($N)]
    t(*futures).result()
else:
    f = t()
    for _ in range($CHAIN - 1):
        f = t(f)
    f.result()
parsl.dfk().cleanup()
PY
cat > "$work/dask_w.py" <<PY
import subprocess, sys
from dask.distributed import Client, LocalCluster
def t(*deps):
    subprocess.run(["/bin/true"], check=True)
    return 0
if __name__ == "__main__":
    with LocalCluster(n_workers=1, threads_per_worker=$CORES, processes=False, dashboard_address=None) as cluster, Client(cluster) as client:
        if sys.argv[1] == "w1":
            futures = client.map(t, range($N), pure=False)
            client.submit(t, *futures, pure=False).result()
        else:
            f = client.submit(t, pure=False)
            for _ in range($CHAIN - 1):
                f = client.submit(t, f, pure=False)
            f.result()
PY

row() { # tool workload tasks "wall kib"
  local tool=$1 w=$2 tasks=$3 wall kib
  read -r wall kib <<<"$4"
  awk -v tool="$tool" -v w="$w" -v n="$tasks" -v t="$wall" -v k="$kib" \
    'BEGIN { printf "| %s | %s | %.2f s | %.0f | %.2f ms | %.0f MiB |\n", tool, w, t, n / t, 1000 * t / n, k / 1024 }'
}

echo "Measured $(date -u +%Y-%m-%dT%H:%MZ) by scripts/peers.sh on $CORES cores; $versions; Heaven $("$heaven" --version) (release)."
echo
echo "| tool | workload | wall | tasks/s | wall per task | peak memory |"
echo "| --- | --- | --- | --- | --- | --- |"
H="$work/home"
row heaven "W1 ($N + 1)" $((N + 1)) "$(HEAVEN_HOME=$H measure "$heaven" run -q "$work/w1.yaml")"
row heaven "W2 ($CHAIN)" $CHAIN "$(HEAVEN_HOME=$H measure "$heaven" run -q "$work/w2.yaml")"
row snakemake "W1 ($N + 1)" $((N + 1)) "$(cd "$work/snake1" && measure "$work/venv/bin/snakemake" -j "$CORES" --quiet all)"
row snakemake "W2 ($CHAIN)" $CHAIN "$(cd "$work/snake2" && measure "$work/venv/bin/snakemake" -j "$CORES" --quiet all)"
row parsl "W1 ($N + 1)" $((N + 1)) "$(cd "$work" && measure "$py" parsl_w.py w1)"
row parsl "W2 ($CHAIN)" $CHAIN "$(cd "$work" && measure "$py" parsl_w.py w2)"
row dask "W1 ($N + 1)" $((N + 1)) "$(cd "$work" && measure "$py" dask_w.py w1)"
row dask "W2 ($CHAIN)" $CHAIN "$(cd "$work" && measure "$py" dask_w.py w2)"
