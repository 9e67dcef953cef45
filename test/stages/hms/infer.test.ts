/**
 * The seed's inference notebook as pipelines/hms-infer.ts, through the CLI with the Hugging Face
 * hub unreachable (HF_ENDPOINT at a closed port): five fold models saved as the seed saves them
 * (`best_model_fold{k}.pth`, torch.save's zip of a state dict named `model.*`) and a folder holding
 * only the test files give submission.csv, with no training and nothing downloaded; the same
 * weights as safetensors give the same models (infer is reused) and the same submission. With
 * checkpoints given, hms-quick plans no `pretrained-weights` and exports `infer` offline. A `.pth`
 * whose pickle would run code fails its fold naming the file, and nothing runs.
 *
 * The fold models are random inits of the full resnet18d (45 MB each: made here, not committed);
 * what torch itself writes is tested on its own files in test/ml/model/pth.test.ts.
 */
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as tf from "@tensorflow/tfjs"
import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { saveCheckpoint } from "../../../src/ml/model/checkpoint.js"
import { buildResNet } from "../../../src/ml/model/resnet.js"
import { readSafetensors } from "../../../src/ml/model/safetensors.js"
import { SAMPLE_SUBMISSION_CSV, TEST_CSV, TEST_SPECTROGRAMS_DIR } from "../../../stages/hms/constants.js"
import { writeSynthDataset } from "../../../stages/hms/synth/index.js"
import { torchSave } from "./torch-save.js"

const REPO = path.resolve(__dirname, "../../..")
const BIN = path.join(REPO, "bin", "cairn.js")
const FOLDS = 5
/** A port nothing listens on: any download fails at once. */
const OFFLINE = { HF_ENDPOINT: "http://127.0.0.1:9" }
/** The seed's model at a small size, so that five folds predict in seconds. */
const SMALL = ["model=resnet18d", "img_size=32", "batch_size=4"].flatMap((p) => ["--param", p])
/** What the refused pickles would create if run (test/golden/gen_pth.py). */
const MARKER = "/tmp/cairn-pth-os-system-marker"
/** Heavy hooks and runs (five 45 MB models, an ONNX export each) on a machine that may be busy. */
const HEAVY_MS = 600_000

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-infer-"))
const cache = path.join(tmp, "cache")
const full = path.join(tmp, "kaggle")
const testOnly = path.join(tmp, "test-only")
const pthDir = path.join(tmp, "pth")
const safetensorsDir = path.join(tmp, "safetensors")

/** Runs the CLI without blocking this process; resolves once the child has exited. */
const cairn = (args: ReadonlyArray<string>) =>
  new Promise<{ code: number | null; out: string }>((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: REPO, env: { ...process.env, ...OFFLINE } })
    let out = ""
    child.stdout.on("data", (d) => (out += d))
    child.stderr.on("data", (d) => (out += d))
    child.on("exit", (code) => resolve({ code, out }))
  })

type Report = { stages: Array<{ id: string; status: string; error?: string }> }
const readReport = (file: string): Report => JSON.parse(fs.readFileSync(file, "utf8"))
const statuses = (r: Report) => Object.fromEntries(r.stages.map((s) => [s.id, s.status]))

const infer = (checkpoints: string, name: string, extra: ReadonlyArray<string> = []) =>
  cairn([
    "run",
    "pipelines/hms-infer.ts",
    "--param",
    `data=${testOnly}`,
    "--param",
    `checkpoints=${checkpoints}`,
    ...SMALL,
    ...extra,
    "--cache-dir",
    cache,
    "--out",
    path.join(tmp, name),
    "--json",
    path.join(tmp, `${name}.json`),
  ])

const submissionOf = (name: string) => fs.readFileSync(path.join(tmp, name, "out/hms-infer/submission/submission.csv"), "utf8")

beforeAll(async () => {
  await tf.setBackend("cpu")
  await Effect.runPromise(writeSynthDataset(full, { trainSpectrograms: 20, testSpectrograms: 3, seed: 5 }))
  // What the inference notebook reads, and nothing else.
  for (const f of [TEST_CSV, TEST_SPECTROGRAMS_DIR, SAMPLE_SUBMISSION_CSV]) fs.cpSync(path.join(full, f), path.join(testOnly, f), { recursive: true })
  fs.mkdirSync(pthDir)
  fs.mkdirSync(safetensorsDir)
  for (let k = 0; k < FOLDS; k++) {
    const model = buildResNet({ variant: "resnet18d", inChans: 1, numClasses: 6 }, 100 + k)
    const file = path.join(safetensorsDir, `best_model_fold${k}.safetensors`)
    await Effect.runPromise(saveCheckpoint(model, file))
    model.dispose()
    const state = await Effect.runPromise(readSafetensors(file))
    // The seed's wrapper module holds the timm model as `self.model`.
    torchSave([...state.tensors.values()], path.join(pthDir, `best_model_fold${k}.pth`), "model.")
  }
}, HEAVY_MS)
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }))

describe("hms-infer: the inference notebook from the seed's fold models, offline", () => {
  it(
    "five best_model_fold{k}.pth + the test files -> submission.csv, nothing trained or downloaded; the safetensors run gives the same",
    async () => {
      const r = await infer(pthDir, "from-pth")
      expect(r.code, r.out).toBe(0)
      const report = readReport(path.join(tmp, "from-pth.json"))
      expect(report.stages.map((s) => s.id).sort()).toEqual(
        ["given-model/fold-0", "given-model/fold-1", "given-model/fold-2", "given-model/fold-3", "given-model/fold-4", "infer", "kaggle-test-data"].sort(),
      )
      expect(report.stages.every((s) => s.status === "ran")).toBe(true)
      const fromPth = submissionOf("from-pth")
      const sample = fs.readFileSync(path.join(testOnly, SAMPLE_SUBMISSION_CSV), "utf8").trim().split("\n")
      const rows = fromPth.trim().split("\n")
      expect(rows.map((l) => l.split(",")[0])).toEqual(sample.map((l) => l.split(",")[0]))
      for (const row of rows.slice(1))
        expect(
          Math.abs(
            row
              .split(",")
              .slice(1)
              .map(Number)
              .reduce((a, b) => a + b, 0) - 1,
          ),
        ).toBeLessThan(1e-6)

      // The same weights as safetensors: each fold's kept model is the same file, so infer is reused.
      const s = await infer(safetensorsDir, "from-safetensors")
      expect(s.code, s.out).toBe(0)
      const again = statuses(readReport(path.join(tmp, "from-safetensors.json")))
      expect(again["given-model/fold-0"]).toBe("ran")
      expect(again.infer).toBe("cached")
      expect(submissionOf("from-safetensors")).toBe(fromPth)
    },
    HEAVY_MS,
  )

  it("without --param checkpoints, says what to give", async () => {
    const r = await cairn(["run", "pipelines/hms-infer.ts", "--param", `data=${testOnly}`, "--cache-dir", cache])
    expect(r.code).toBe(2)
    expect(r.out).toContain("must name the folder of the fold models (best_model_fold{k}.pth or .safetensors): --param checkpoints=DIR")
  })

  it("a fold given both as .pth and .safetensors is not guessed", async () => {
    const both = path.join(tmp, "both")
    fs.mkdirSync(both)
    fs.copyFileSync(path.join(pthDir, "best_model_fold0.pth"), path.join(both, "best_model_fold0.pth"))
    fs.copyFileSync(path.join(safetensorsDir, "best_model_fold0.safetensors"), path.join(both, "best_model_fold0.safetensors"))
    const r = await infer(both, "both", ["--param", "folds=0"])
    expect(r.code).not.toBe(0)
    const stage = readReport(path.join(tmp, "both.json")).stages.find((x) => x.id === "given-model/fold-0")
    expect(stage?.error).toContain(
      `--param checkpoints: fold 0 has ${path.join(both, "best_model_fold0.safetensors")} and ${path.join(both, "best_model_fold0.pth")}: keep the one to use`,
    )
  })

  it(
    "a .pth whose pickle names os.system fails its fold naming the file, and nothing runs",
    async () => {
      const bad = path.join(tmp, "bad")
      fs.mkdirSync(bad)
      fs.copyFileSync(path.join(REPO, "test/fixtures/ml/pth/os-system.pth"), path.join(bad, "best_model_fold0.pth"))
      const existed = fs.existsSync(MARKER)
      const r = await infer(bad, "bad", ["--param", "folds=0"])
      expect(r.code).not.toBe(0)
      const stage = readReport(path.join(tmp, "bad.json")).stages.find((x) => x.id === "given-model/fold-0")
      expect(stage?.status).toBe("failed")
      expect(stage?.error).toContain(
        `${path.join(bad, "best_model_fold0.pth")}: pickle names os.system, which a checkpoint may not: only tensors and ordered dicts are read (as torch.load(weights_only=True))`,
      )
      if (!existed) expect(fs.existsSync(MARKER)).toBe(false)
    },
    HEAVY_MS,
  )
})

describe("with checkpoints given, hms-quick and hms-baseline plan no ImageNet weights", () => {
  const planned = async (pipeline: string, params: ReadonlyArray<string>) => {
    const r = await cairn(["dag", pipeline, ...params.flatMap((p) => ["--param", p])])
    expect(r.code, r.out).toBe(0)
    return r.out
  }

  it("cairn dag: pretrained-weights only without checkpoints", async () => {
    for (const [pipeline, params] of [
      ["pipelines/hms-quick.ts", []],
      ["pipelines/hms-baseline.ts", [`data=${full}`]],
    ] as const) {
      expect(await planned(pipeline, params)).toMatch(/^\s*pretrained-weights\b/m)
      const given = await planned(pipeline, [...params, `checkpoints=${pthDir}`])
      expect(given).not.toContain("pretrained-weights")
      expect(given).toMatch(/^\s*train\/fold-0 /m)
    }
  })

  it(
    "cairn export hms-quick infer --param checkpoints=DIR of .pth files runs offline with hub weights named",
    async () => {
      const out = path.join(tmp, "exported")
      const r = await cairn([
        "export",
        "pipelines/hms-quick.ts",
        "infer",
        out,
        ...["spectrograms=20", "test_spectrograms=3", "max_rows=12", "n_folds=2", "pretrained=timm/resnet18d.ra2_in1k", `checkpoints=${pthDir}`].flatMap(
          (p) => ["--param", p],
        ),
        ...SMALL,
        "--cache-dir",
        cache,
      ])
      expect(r.code, r.out).toBe(0)
      expect(r.out).not.toContain("pretrained-weights")
      expect(r.out).not.toContain("127.0.0.1:9")
      expect(fs.existsSync(path.join(out, "submission.csv"))).toBe(true)
    },
    HEAVY_MS,
  )
})
