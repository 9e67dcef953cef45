#!/usr/bin/env bash
# The GPU bundle's runner (copied into the bundle as run.sh by bench/gpu-bundle.ts): unpacks Node,
# Dawn's addon and the bundled check into a fresh temporary folder (nothing outside it is written),
# finds the GPU's Vulkan/EGL loader (the bundle's own from gl/*.deb, unpacked into that folder,
# where the machine has none) and runs the check. Needs bash, and xz or python3; nothing installed.
# Usage: run.sh [OUT_DIR] [check options: --allow-software]   (exit status: the check's)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-${OUT:-/tmp/cairn-gpu-check}}"
shift || true
mkdir -p "$out"
work="$(mktemp -d "${TMPDIR:-/tmp}/cairn-gpu.XXXXXX")"
echo "gpu bundle: unpacking into $work"

unxz_to() {
  if command -v xz >/dev/null 2>&1; then
    xz -dc "$1" >"$2"
  else
    python3 -c 'import lzma,shutil,sys
with lzma.open(sys.argv[1]) as i, open(sys.argv[2], "wb") as o: shutil.copyfileobj(i, o, 1 << 20)' "$1" "$2"
  fi
}
mkdir -p "$work/node_modules/webgpu/dist/linux-x64"
unxz_to "$here/node.xz" "$work/node"
chmod +x "$work/node"
unxz_to "$here/dawn.node.xz" "$work/node_modules/webgpu/dist/linux-x64/dawn.node"
cp "$here"/webgpu/* "$work/node_modules/webgpu/"
unxz_to "$here/check.mjs.xz" "$work/check.mjs"

# The loaders Dawn opens (libvulkan.so.1; libEGL.so.1 for its GL backend), private to this run.
if ! ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1 ' && [ -d "$here/gl" ]; then
  for f in "$here"/gl/*.deb; do
    if command -v dpkg-deb >/dev/null 2>&1; then dpkg-deb -x "$f" "$work/gl"; else (mkdir -p "$work/gl" && cd "$work/gl" && ar p "$f" data.tar.xz | tar -xJ); fi
  done
  export LD_LIBRARY_PATH="$work/gl/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  echo "gpu bundle: no Vulkan loader on this machine; using the bundle's (gl/)"
fi
# NVIDIA's container runtime puts the driver's ICD and EGL vendor files where the loaders do not look.
nv=/usr/local/nvidia/share
if [ -z "${VK_DRIVER_FILES:-}" ] && [ -f "$nv/vulkan/icd.d/nvidia_icd.json" ]; then export VK_DRIVER_FILES="$nv/vulkan/icd.d/nvidia_icd.json"; fi
if [ -z "${__EGL_VENDOR_LIBRARY_FILENAMES:-}" ] && [ -f "$nv/glvnd/egl_vendor.d/10_nvidia.json" ]; then export __EGL_VENDOR_LIBRARY_FILENAMES="$nv/glvnd/egl_vendor.d/10_nvidia.json"; fi
export EGL_PLATFORM="${EGL_PLATFORM:-surfaceless}"

"$work/node" --version
status=0
"$work/node" "$work/check.mjs" --out "$out" "$@" || status=$?
rm -rf "$work"
exit "$status"
