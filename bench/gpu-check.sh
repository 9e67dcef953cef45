#!/usr/bin/env bash
# The GPU check: on a machine with a GPU (Linux: a Vulkan driver; NVIDIA's ships one), with Node and
# this repo (its node_modules included) carried over as files, nothing installed. In under 5 minutes:
# the engines found, the WebGPU tests against wasm on the hardware adapter, and the GPU benchmark
# at 128 px batch 8 and at the seed's 512 px batch 32 (train and infer img/s, JSON in $OUT or /tmp).
# Usage: bench/gpu-check.sh   (exit status: the tests')
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-/tmp}"
export EGL_PLATFORM="${EGL_PLATFORM:-surfaceless}"
export CAIRN_REQUIRE_WEBGPU=1
node --version
node bin/cairn.js doctor | tee "$out/gpu-doctor.txt"
timeout 150 npx vitest run test/ml/webgpu.test.ts 2>&1 | tail -25 | tee "$out/gpu-tests.txt"
status=${PIPESTATUS[0]}
timeout 60 npm run --silent bench -- --backends webgpu --sizes 128 --batch 8 --steps 3 --warmup 1 --no-torch --json "$out/gpu-bench-128-b8.json" >/dev/null 2>"$out/gpu-bench-128-b8.err"
timeout 90 npm run --silent bench -- --backends webgpu --sizes 512 --batch 32 --steps 2 --warmup 1 --no-torch --json "$out/gpu-bench-512-b32.json" >/dev/null 2>"$out/gpu-bench-512-b32.err"
for f in "$out"/gpu-bench-*.json; do
  [ -f "$f" ] && node -e 'const d=require(process.argv[1]);for(const c of d.configs){const w=c.tfjs.webgpu;console.log(`${c.size}px b${c.batch}: train ${w?.train.imagesPerSecond} img/s, infer ${w?.infer.imagesPerSecond} img/s, peak RSS ${d.memory.peakRssMB} MB`)}' "$f"
done
exit "$status"
