// Where oneDNN may be installed: $DNNLROOT, conda, Homebrew, the system (Debian's libdnnl-dev).
"use strict"
const path = require("node:path")

const HEADER = path.join("oneapi", "dnnl", "dnnl.hpp")
const LIBRARY = process.platform === "darwin" ? ["libdnnl.dylib"] : ["libdnnl.so"]
const INSTALL_HINT = process.platform === "darwin" ? "brew install onednn" : "apt-get install libdnnl-dev (or conda install onednn, or set DNNLROOT)"

function candidates() {
  const roots = [process.env.DNNLROOT, process.env.CONDA_PREFIX, "/opt/homebrew", "/usr/local"].filter(Boolean)
  const out = roots.map((root) => ({ include: path.join(root, "include"), lib: path.join(root, "lib") }))
  const multiarch = { x64: "x86_64-linux-gnu", arm64: "aarch64-linux-gnu" }[process.arch]
  if (multiarch !== undefined) out.push({ include: "/usr/include", lib: `/usr/lib/${multiarch}` })
  out.push({ include: "/usr/include", lib: "/usr/lib" })
  return out
}

module.exports = { HEADER, LIBRARY, INSTALL_HINT, candidates }
