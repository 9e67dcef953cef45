#!/usr/bin/env bash
# The GPU check on a machine with a GPU (Linux: a Vulkan driver; NVIDIA's ships one) and nothing
# else: no Node, no node_modules, nothing installed. It runs the bundle `npm run gpu:bundle` made
# here (.gpu-bundle/, about 28 MiB: Node, Dawn's addon, the check bundled, the Vulkan/EGL loaders),
# carried over beside the repository: the WebGPU checks against TF.js' cpu backend (the cases of
# test/ml/engines/webgpu/webgpu-backend.test.ts), then resnet34d at 128 px batch 8 and the seed's 512 px batch 32 (train
# and infer img/s, GPU memory), in a few minutes. JSON in $OUT (or /tmp/cairn-gpu-check).
# Usage: bench/gpu-check.sh [--allow-software]   (exit status: the check's)
set -uo pipefail
cd "$(dirname "$0")/.."
bundle="${CAIRN_GPU_BUNDLE:-.gpu-bundle}"
out="${OUT:-/tmp/cairn-gpu-check}"
if [ ! -x "$bundle/run.sh" ]; then
  echo "gpu-check: no bundle at $bundle: run 'npm run gpu:bundle' on a machine with this repo's node_modules, and carry $bundle" >&2
  exit 2
fi
mkdir -p "$out"
if command -v nvidia-smi >/dev/null 2>&1; then nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader; fi
timeout 540 "$bundle/run.sh" "$out" "$@" 2>&1 | tee "$out/gpu-check.log"
