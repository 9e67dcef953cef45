/**
 * Memory planning of the HMS pipelines through the CLI, on a small synthetic dataset: a
 * configuration the wasm engine cannot hold is refused before anything runs, and a fold that dies
 * of a real wasm trap (the heap capped with V8's --wasm-max-mem-pages) says what it was.
 */
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { wasmWayOut } from "../../../src/ml/train/memory-estimate.js"
import { loadOnednn } from "../../../src/ml/engines/onednn/onednn-addon.js"
import { writeSynthDataset } from "../../../stages/hms/synth/index.js"
import { BIN, REPO } from "../../support/helpers.js"

const root = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-hms-memory-"))
const data = path.join(root, "D")
const literal = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")

/** `node [nodeFlags] bin/cairn.js args` in the repository (its pipelines/), cache under the test's folder. */
const cairn = (args: ReadonlyArray<string>, nodeFlags: ReadonlyArray<string> = []) =>
  // Asynchronously: a run that trains blocks for a while, and a blocked test worker misses vitest's RPC deadline.
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [...nodeFlags, BIN, ...args], { cwd: REPO, env: { ...process.env, CAIRN_NO_FAST_PATH: "1" } })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (d) => (stdout += d))
    child.stderr.on("data", (d) => (stderr += d))
    child.once("close", (code) => resolve({ code: code ?? -1, stdout, stderr }))
  })

describe("memory planning of hms-baseline", () => {
  beforeAll(async () => {
    await Effect.runPromise(writeSynthDataset(data, { trainSpectrograms: 20, testSpectrograms: 3, seed: 20 }))
  })
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }))

  it("refuses the seed's configuration on the wasm engine at plan time: exit 2, the need and the way out, nothing ran", async () => {
    const cache = path.join(root, "cache-refused")
    const r = await cairn(["run", "pipelines/hms-baseline.ts", "--param", `data=${data}`, "--param", "backend=wasm", "--cache-dir", cache])
    expect(r.code, r.stdout + r.stderr).toBe(2)
    expect(r.stderr).toMatch(
      new RegExp(
        `^cairn: train: resnet34d 512px batch 32 needs ~16\\.9 GiB; the wasm engine holds at most 4 GiB: ${literal(wasmWayOut(loadOnednn().available))} \\(or batch_size 6 or less on wasm\\)$`,
        "m",
      ),
    )
    expect(r.stdout).not.toMatch(/^(ran|FAILED|cached) /m)
    expect(fs.existsSync(cache)).toBe(false)
  })

  it("wraps a fold's wasm trap with the step's estimate and the way out", async () => {
    const cache = path.join(root, "cache-trap")
    const args = [
      "run",
      "pipelines/hms-baseline.ts",
      "--param",
      `data=${data}`,
      "--param",
      "pretrained=",
      "--param",
      "backend=wasm",
      "--param",
      "model=resnet18d",
    ]
    const small = [
      "--param",
      "img_size=32",
      "--param",
      "batch_size=2",
      "--param",
      "epochs=1",
      "--param",
      "n_folds=2",
      "--target",
      "train/fold-0",
      "--cache-dir",
      cache,
    ]
    // A 75 MiB wasm heap: too small for resnet18d's weights and AdamW's moments.
    const r = await cairn([...args, ...small], ["--wasm-max-mem-pages=1200"])
    expect(r.code, r.stdout + r.stderr).toBe(1)
    expect(r.stdout).toMatch(
      /failed train\/fold-0: train fold 0: the wasm engine ran out of memory \((memory access out of bounds|Aborted\(.*\)|table index is out of bounds|.*could not allocate memory.*)\): cairn's estimate for resnet18d 32px batch 2 is ~\d+ MiB, within the 4 GiB the wasm engine holds/,
    )
    expect(r.stdout).toContain(wasmWayOut(loadOnednn().available))
  })
})
