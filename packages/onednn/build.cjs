// Builds the addon with node-gyp when oneDNN's headers and library are found; otherwise, or when the
// build fails, records why in build/unavailable.txt and exits 0: the package is optional, and cairn
// then runs on the wasm kernels and says why at start (`cairn doctor` too). Never fails `npm ci`.
"use strict"
const { spawnSync } = require("node:child_process")
const { existsSync, mkdirSync, rmSync, writeFileSync } = require("node:fs")
const path = require("node:path")
const { HEADER, LIBRARY, candidates, INSTALL_HINT } = require("./locate.cjs")

const buildDir = path.join(__dirname, "build")
const unavailable = path.join(buildDir, "unavailable.txt")

function give_up(reason) {
  mkdirSync(buildDir, { recursive: true })
  writeFileSync(unavailable, `${reason}\n`)
  console.warn(`@cairn/onednn: native kernels not built: ${reason}`)
  process.exit(0)
}

if (process.env.CAIRN_ONEDNN_SKIP_BUILD === "1") give_up("CAIRN_ONEDNN_SKIP_BUILD=1")
const found = candidates().find((c) => existsSync(path.join(c.include, HEADER)) && LIBRARY.some((l) => existsSync(path.join(c.lib, l))))
if (found === undefined) give_up(`libdnnl not found (no ${HEADER} with ${LIBRARY.join(" or ")}); ${INSTALL_HINT}`)

// npm hands its bundled node-gyp to install scripts; run by hand, the one next to this node's npm.
const bundled = path.join(path.dirname(process.execPath), "..", "lib", "node_modules", "npm", "node_modules", "node-gyp", "bin", "node-gyp.js")
const nodeGyp = process.env.npm_config_node_gyp ?? (existsSync(bundled) ? bundled : undefined)
const command = nodeGyp ? [process.execPath, [nodeGyp]] : ["node-gyp", []]
// Node's own headers (no download): npm passes its nodedir setting; by hand, this node's prefix.
const prefix = path.join(path.dirname(process.execPath), "..")
const nodedir = process.env.npm_config_nodedir ?? (existsSync(path.join(prefix, "include", "node", "node_api.h")) ? prefix : undefined)
const gypArgs = ["rebuild", `-Ddnnl_include=${found.include}`, `-Ddnnl_lib=${found.lib}`, ...(nodedir ? [`--nodedir=${nodedir}`] : [])]
rmSync(unavailable, { force: true })
const result = spawnSync(command[0], [...command[1], ...gypArgs], {
  cwd: __dirname,
  stdio: ["ignore", "inherit", "pipe"],
  encoding: "utf8",
})
if (result.error !== undefined || result.status !== 0) {
  const boilerplate = /gyp ERR! (cwd|node -v|node-gyp -v|not ok|System|command|stack {4}at)/
  const lines = (result.stderr ?? "").split("\n").filter((l) => /error/i.test(l) && !boilerplate.test(l))
  const tail = lines.slice(0, 3).join(" | ")
  process.stderr.write(result.stderr ?? "")
  give_up(`node-gyp build failed (${result.error?.message ?? `exit ${result.status}`}): ${tail}`)
}
console.log(`@cairn/onednn: built against oneDNN in ${found.include}`)
