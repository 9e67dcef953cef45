/**
 * The GPU bundle (bench/gpu-bundle.ts, `npm run gpu:bundle`) that carries the GPU check to a
 * machine without Node: it builds, it stays under 60 MiB with everything the device README asks
 * for, and its runner works from the bundle alone: with a PATH that has no `node`, unpacked
 * outside the repository (no node_modules), here on llvmpipe (a software adapter, allowed for this
 * check: the benchmark then runs a tiny model, and the seed's 512 px batch 32 only meets the limits
 * check, which llvmpipe's 128 MiB bindings refuse).
 *
 * Without a WebGPU adapter the run is skipped with the reason (`CAIRN_REQUIRE_WEBGPU=1`: a failure).
 * Building compresses Node's binary (~1 minute on two cores the first time; kept while it is the same).
 */
import { spawn, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Either } from "effect"
import { describe, expect, it } from "vitest"
import { BUNDLE_LIMIT_BYTES, buildGpuBundle, GPU_BUNDLE_DIR, LOADER_PACKAGES } from "../../bench/gpu-bundle.js"
import { GPU_CHECK_REPORT } from "../../bench/gpu-cases.js"
import { probeWebgpu } from "../../src/ml/engines/webgpu/probe.js"

const REQUIRED = process.env["CAIRN_REQUIRE_WEBGPU"] === "1"
const ROOT = path.resolve(import.meta.dirname, "../..")
const BUNDLE = path.join(ROOT, GPU_BUNDLE_DIR)

/** The programs run.sh uses, and nothing else: no node. */
const RUNNER_TOOLS = ["bash", "sh", "mkdir", "mktemp", "chmod", "cp", "rm", "dirname", "grep", "ldconfig", "dpkg-deb", "ar", "tar", "xz", "python3"]

/** A folder of links to `RUNNER_TOOLS` (those this machine has), to be the runner's whole PATH. */
const bareBin = (dir: string): string => {
  const bin = path.join(dir, "bin")
  fs.mkdirSync(bin)
  for (const tool of RUNNER_TOOLS) {
    const found = spawnSync("sh", ["-c", `command -v ${tool}`], { encoding: "utf8" }).stdout.trim()
    if (found !== "") fs.symlinkSync(found, path.join(bin, tool))
  }
  return bin
}

describe("the GPU bundle", () => {
  it("builds under 60 MiB with Node, Dawn, the check and the loaders, and runs the check from itself alone on llvmpipe", async (ctx) => {
    const manifest = await buildGpuBundle({ log: () => undefined })
    const onDisk = Object.keys(manifest.files).reduce((a, f) => a + fs.statSync(path.join(BUNDLE, f)).size, 0)
    expect(onDisk).toBe(manifest.totalBytes)
    expect(manifest.totalBytes).toBeLessThan(BUNDLE_LIMIT_BYTES)
    const names = Object.keys(manifest.files)
    expect(names).toEqual(expect.arrayContaining(["node.xz", "dawn.node.xz", "check.mjs.xz", "run.sh", "webgpu/index.js", "webgpu/package.json"]))
    for (const p of LOADER_PACKAGES)
      expect(
        names.some((n) => n.startsWith(`gl/${p}_`) && n.endsWith("_amd64.deb")),
        p,
      ).toBe(true)
    // Node's binary is the bulk: xz leaves about a quarter of it.
    expect(manifest.files["node.xz"]!.bytes).toBeLessThan(fs.statSync(process.execPath).size / 3)

    const probe = probeWebgpu({ allowSoftware: true })
    if (Either.isLeft(probe)) {
      if (REQUIRED) throw probe.left
      ctx.skip(`no WebGPU adapter to run the bundle on: ${probe.left.message}`)
    }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-gpu-bundle-"))
    try {
      const out = path.join(dir, "out")
      // Asynchronously: the check runs for minutes on llvmpipe, and a blocked test worker misses vitest's RPC deadline.
      const run = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
        const child = spawn(path.join(BUNDLE, "run.sh"), [out, "--allow-software"], {
          cwd: dir,
          env: { PATH: bareBin(dir), HOME: dir, TMPDIR: dir, EGL_PLATFORM: "surfaceless" },
        })
        let stdout = ""
        let stderr = ""
        child.stdout.on("data", (d) => (stdout += d))
        child.stderr.on("data", (d) => (stderr += d))
        child.once("error", (e) => resolve({ status: null, stdout, stderr: `${stderr}${e.message}` }))
        child.once("close", (status) => resolve({ status, stdout, stderr }))
      })
      const log = `${run.stdout}\n${run.stderr}`
        .split("\n")
        .filter((l) => l.startsWith("gpu"))
        .join("\n")
      expect(run.status, log).toBe(0)
      const report = JSON.parse(fs.readFileSync(path.join(out, GPU_CHECK_REPORT), "utf8")) as {
        ok: boolean
        node: string
        limits: { maxBufferSize: number; maxStorageBufferBindingSize: number }
        checks: ReadonlyArray<{ name: string; ok: boolean }>
        bench: ReadonlyArray<{ label: string; refused?: string; train?: { imagesPerSecond: number } }>
        deviceErrors: ReadonlyArray<string>
      }
      expect(report.ok).toBe(true)
      expect(report.node).toBe(process.version)
      expect(report.deviceErrors).toEqual([])
      expect(report.checks.length).toBeGreaterThan(40)
      expect(report.checks.filter((c) => !c.ok)).toEqual([])
      const [tiny, ...seedSizes] = report.bench
      expect(tiny?.train?.imagesPerSecond).toBeGreaterThan(0)
      expect(seedSizes.map((b) => b.label)).toEqual(["resnet34d 128px b8", "resnet34d 512px b32"])
      // llvmpipe binds at most 128 MiB: the seed's step is refused before it runs, saying why.
      if (report.limits.maxStorageBufferBindingSize < 2 ** 29)
        expect(seedSizes[1]?.refused).toMatch(/conv1\.6 output \[32, 256, 256, 64\] = 512 MiB .*use batch \d+ or less/)
      // The unpacked files went to its own temporary folder, and that is gone.
      expect(fs.readdirSync(dir).filter((f) => f.startsWith("cairn-gpu."))).toEqual([])
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  }, 900_000)
})
