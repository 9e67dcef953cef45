/**
 * `npm run gpu:bundle [-- --out DIR]`: the GPU check (bench/gpu-check.ts) packed to travel to a
 * machine that has a GPU but no Node, no node_modules and nothing to install from, in under
 * `BUNDLE_LIMIT_BYTES` (the device tool carries at most 64 MiB; node_modules is 1.2 GB). Offline
 * except for the loader packages, which Debian's registry gives (`apt-get download`, once: kept
 * when already in the folder). Writes into `.gpu-bundle/` (git-ignored):
 *
 * - `node.xz`: this Node's own binary (process.execPath), xz -9 (brotli 11 was larger, see README);
 * - `dawn.node.xz`: the `webgpu` package's linux-x64 Dawn addon, and `webgpu/`: its two small files
 *   (index.js loads the addon from dist/linux-x64/ beside it);
 * - `check.mjs.xz`: esbuild's bundle of the check, every package in it except `webgpu`;
 * - `gl/*.deb`: the Vulkan and EGL loaders (libglvnd) for a machine whose driver ships without them;
 * - `run.sh` (bench/gpu-bundle-run.sh): unpacks into a temporary folder and runs the check;
 * - `manifest.json`: each file's size and sha256, and what it was made from.
 *
 * xz, not gzip or brotli: the far side has no Node to decompress with, but has xz or Python's lzma.
 * Compression is the slow part (about a minute for Node's binary on two cores): a file whose source
 * and settings match the manifest's is kept as it is.
 */
import { spawn, spawnSync } from "node:child_process"
import { createHash } from "node:crypto"
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import { createRequire } from "node:module"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { Data } from "effect"
import { build } from "esbuild"

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
/** Where `npm run gpu:bundle` writes (git-ignored; carried to the device machine by name). */
export const GPU_BUNDLE_DIR = ".gpu-bundle"
/** The issue's bound, under the device tool's 64 MiB for everything carried. */
export const BUNDLE_LIMIT_BYTES = 60 * 1024 ** 2
/** The loader packages the device README names (libglvnd's EGL/GL and the Vulkan loader). */
export const LOADER_PACKAGES = ["libvulkan1", "libegl1", "libglvnd0", "libopengl0", "libgl1", "libglx0", "libgles2"]
/** xz's strongest preset; the same from Python's lzma (PRESET_EXTREME is a flag, left out for speed). */
const XZ_PRESET = 9
const DAWN_PLATFORM = "linux-x64"

export class GpuBundleFailed extends Data.TaggedError("GpuBundleFailed")<{ readonly step: string; readonly detail: string; readonly cause?: unknown }> {
  override get message(): string {
    return `gpu bundle, ${this.step}: ${this.detail}`
  }
}

interface ManifestEntry {
  readonly bytes: number
  readonly sha256: string
  /** What it was made from: a source file's sha256 and the settings, for reuse. */
  readonly source?: string
}
interface Manifest {
  readonly files: Record<string, ManifestEntry>
  readonly node: string
  readonly webgpu: string
  readonly totalBytes: number
}

const sha256 = (file: string): string => createHash("sha256").update(readFileSync(file)).digest("hex")

const has = (command: string): boolean => spawnSync("sh", ["-c", `command -v ${command}`], { stdio: "ignore" }).status === 0

/**
 * A command's exit status and stderr, without blocking the event loop (compressing Node's binary
 * takes a minute or more: a caller such as a test worker must keep answering meanwhile).
 */
const runAsync = (command: string, args: ReadonlyArray<string>, cwd?: string): Promise<{ status: number | null; stderr: string; error?: Error }> =>
  new Promise((resolve) => {
    const child = spawn(command, args, { cwd, stdio: ["ignore", "ignore", "pipe"] })
    let stderr = ""
    child.stderr.on("data", (d) => (stderr += d))
    child.once("error", (error) => resolve({ status: null, stderr, error }))
    child.once("close", (status) => resolve({ status, stderr }))
  })

/** xz -9 with both cores, or Python's lzma (same format) where the xz program is missing. */
const xzCompress = async (from: string, to: string): Promise<void> => {
  const run = has("xz")
    ? await runAsync("sh", ["-c", `xz -T0 -${XZ_PRESET} -c "$0" > "$1"`, from, to])
    : await runAsync("python3", [
        "-c",
        `import lzma,shutil,sys\nwith open(sys.argv[1],"rb") as i, lzma.open(sys.argv[2],"wb",preset=${XZ_PRESET}) as o: shutil.copyfileobj(i,o,1<<20)`,
        from,
        to,
      ])
  if (run.status !== 0) throw new GpuBundleFailed({ step: `compressing ${from}`, detail: `${run.error?.message ?? run.stderr} (needs xz or python3)` })
}

/** The Debian loader packages for amd64, from the registry into `dir` (the device README's recipe). */
const downloadLoaders = async (dir: string): Promise<void> => {
  mkdirSync(dir, { recursive: true })
  const lists = path.join(dir, ".lists")
  mkdirSync(path.join(lists, "partial"), { recursive: true })
  const o = ["-oAPT::Architecture=amd64", "-oAPT::Architectures=amd64", `-oDir::State::Lists=${lists}`]
  for (const args of [
    [...o, "-qq", "update"],
    [...o, "-qq", "download", ...LOADER_PACKAGES],
  ]) {
    const run = await runAsync("apt-get", args, dir)
    if (run.status !== 0) {
      throw new GpuBundleFailed({
        step: "loader packages",
        detail: `apt-get ${args.slice(o.length).join(" ")}: ${run.error?.message ?? run.stderr.trim()} (Debian's registry must be reachable once)`,
      })
    }
  }
  rmSync(lists, { recursive: true, force: true })
}

export interface BundleOptions {
  /** Default `.gpu-bundle` in the repository. */
  readonly out?: string
  readonly log?: (line: string) => void
}

/** Builds (or brings up to date) the bundle; returns its manifest. */
export const buildGpuBundle = async (options: BundleOptions = {}): Promise<Manifest> => {
  const out = path.resolve(options.out ?? path.join(ROOT, GPU_BUNDLE_DIR))
  const log = options.log ?? ((line: string) => console.log(line))
  mkdirSync(out, { recursive: true })
  const manifestFile = path.join(out, "manifest.json")
  const previous: Manifest | undefined = existsSync(manifestFile) ? (JSON.parse(readFileSync(manifestFile, "utf8")) as Manifest) : undefined
  const files: Record<string, ManifestEntry> = {}
  const record = (name: string, source?: string) => {
    const file = path.join(out, name)
    files[name] = { bytes: statSync(file).size, sha256: sha256(file), ...(source === undefined ? {} : { source }) }
  }
  /** Compresses `from` into `name` unless the manifest says it already holds that source so compressed. */
  const compressed = async (name: string, from: string) => {
    const source = `${sha256(from)} xz -${XZ_PRESET}`
    const before = previous?.files[name]
    const file = path.join(out, name)
    if (before?.source === source && existsSync(file) && sha256(file) === before.sha256) {
      log(`${name}: up to date`)
    } else {
      const t0 = performance.now()
      await xzCompress(from, file)
      log(
        `${name}: ${(statSync(from).size / 1024 ** 2).toFixed(1)} MiB -> ${(statSync(file).size / 1024 ** 2).toFixed(1)} MiB in ${((performance.now() - t0) / 1000).toFixed(0)} s`,
      )
    }
    record(name, source)
  }

  await compressed("node.xz", process.execPath)

  const require_ = createRequire(path.join(ROOT, "package.json"))
  const webgpuDir = path.dirname(require_.resolve("webgpu/package.json"))
  const webgpuVersion = (JSON.parse(readFileSync(path.join(webgpuDir, "package.json"), "utf8")) as { version: string }).version
  await compressed("dawn.node.xz", path.join(webgpuDir, "dist", DAWN_PLATFORM, "dawn.node"))
  mkdirSync(path.join(out, "webgpu"), { recursive: true })
  for (const name of ["package.json", "index.js", "LICENSE.md"]) {
    copyFileSync(path.join(webgpuDir, name), path.join(out, "webgpu", name))
    record(`webgpu/${name}`)
  }

  // The check and everything it imports, but Dawn's package: it loads its addon from beside itself.
  const bundled = path.join(out, "check.mjs")
  const result = await build({
    entryPoints: [path.join(ROOT, "bench", "gpu-check.ts")],
    outfile: bundled,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    minify: true,
    legalComments: "none",
    external: ["webgpu"],
    // The bundle runs as ESM; a CommonJS dependency's require() of Node's builtins needs one.
    banner: { js: 'import { createRequire as __cairnRequire } from "node:module"; const require = __cairnRequire(import.meta.url);' },
    logLevel: "error",
  }).catch((cause: unknown) => {
    throw new GpuBundleFailed({ step: "esbuild", detail: String(cause), cause })
  })
  if (result.errors.length > 0) throw new GpuBundleFailed({ step: "esbuild", detail: result.errors.map((e) => e.text).join("; ") })
  await compressed("check.mjs.xz", bundled)
  rmSync(bundled)

  const gl = path.join(out, "gl")
  const debs = () => (existsSync(gl) ? readdirSync(gl).filter((f) => f.endsWith(".deb")) : [])
  if (LOADER_PACKAGES.some((p) => !debs().some((f) => f.startsWith(`${p}_`)))) await downloadLoaders(gl)
  for (const f of debs()) record(`gl/${f}`)

  copyFileSync(path.join(ROOT, "bench", "gpu-bundle-run.sh"), path.join(out, "run.sh"))
  chmodSync(path.join(out, "run.sh"), 0o755)
  record("run.sh")

  const totalBytes = Object.values(files).reduce((a, f) => a + f.bytes, 0)
  const manifest: Manifest = { files, node: process.version, webgpu: webgpuVersion, totalBytes }
  writeFileSync(manifestFile, `${JSON.stringify(manifest, null, 2)}\n`)
  log(
    `${path.relative(process.cwd(), out) || "."}: ${Object.keys(files).length} files, ${(totalBytes / 1024 ** 2).toFixed(1)} MiB (limit ${BUNDLE_LIMIT_BYTES / 1024 ** 2} MiB)`,
  )
  if (totalBytes > BUNDLE_LIMIT_BYTES) {
    throw new GpuBundleFailed({
      step: "size",
      detail: `${totalBytes} bytes, over the ${BUNDLE_LIMIT_BYTES} the device machine can be sent beside the repository`,
    })
  }
  return manifest
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const i = process.argv.indexOf("--out")
  buildGpuBundle(i >= 0 && process.argv[i + 1] !== undefined ? { out: process.argv[i + 1]! } : {}).catch((error: unknown) => {
    console.error(error instanceof GpuBundleFailed ? error.message : error)
    process.exit(1)
  })
}
