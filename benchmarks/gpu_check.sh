#!/usr/bin/env bash
# The CUDA path, checked in one short run on a machine with a GPU (not yet run on one: see README).
#
#   BACKPROP_NINJA_DATA=/path/to/names.txt benchmarks/gpu_check.sh [GPT_STEPS]
#
# 1. every kata's checks with --device cuda, on the worked solutions;
# 2. a short MLP run (2,000 steps) with the reference backward and its --autograd twin;
# 3. the GPT and the Llama runs (GPT_STEPS, default 8,000), each with the reference backward and its
#    --autograd twin.
# Each run prints its losses, names and "trained in N s"; the script stops at the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${BACKPROP_NINJA_DATA:?set BACKPROP_NINJA_DATA to names.txt}"
GPT_STEPS="${1:-8000}"
python - <<'PY'
import torch
assert torch.cuda.is_available(), "no CUDA GPU here"
print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, {torch.cuda.get_device_name(0)}")
PY
nvidia-smi --query-gpu=name,utilization.gpu,memory.used --format=csv || true
echo "== kata checks on cuda (reference)"
python -m pytest katas --impl reference --device cuda -q -p no:cacheprovider
for twin in "" "--autograd"; do
  echo "== MLP, 2,000 steps on cuda ${twin:-(reference backward)}"
  python -m backprop_ninja train --impl reference --device cuda --steps 2000 $twin
done
for model in gpt llama; do
  for twin in "" "--autograd"; do
    echo "== $model, $GPT_STEPS steps on cuda ${twin:-(reference backward)}"
    python -m backprop_ninja train --model "$model" --impl reference --device cuda --steps "$GPT_STEPS" $twin
  done
done
