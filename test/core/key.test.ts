import * as fs from "node:fs"
import * as path from "node:path"
import { Effect, Either } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import { canonicalJson, hashJson } from "../../src/core/canonical.js"
import { ClosureResolver } from "../../src/core/closure/code-closure.js"
import { envKeyRecord, envKeyValue } from "../../src/core/credentials.js"
import { computeKey, describeChange, diffKeys, KEY_FORMAT, type KeyRecord } from "../../src/core/key.js"
import { makeProject, removeProjects } from "../support/helpers.js"

const golden: KeyRecord = {
  format: KEY_FORMAT,
  stage: "normalize-votes",
  version: 2,
  code: "3f1c0d2a9b8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a",
  params: { lr: 0.001, img_size: 512, classes: ["seizure", "lpd"], nested: { b: true, a: null } },
  inputs: { table: "aa".repeat(32), models: ["bb".repeat(32), "cc".repeat(32)] },
  env: { CUDA_VISIBLE_DEVICES: null },
  reads: { "param:pretrained": "dd".repeat(32) },
  engine: { node: "20", packages: { effect: "3.22.4", "@tensorflow/tfjs": "4.22.0" }, backend: "wasm" },
}

describe("cache key", () => {
  afterAll(removeProjects)
  it("is the sha256 of one canonical JSON record (golden; same as Python's json.dumps(sort_keys=True))", () => {
    expect(KEY_FORMAT).toBe(2)
    expect(Either.getOrThrow(computeKey(golden))).toBe("2f9bfd4bf1062942331db215666801df1f12dfd899ce4fa4142570a53c28ff0b")
  })

  it("does not depend on key order, and changes with any field", () => {
    const reordered = JSON.parse(
      JSON.stringify({
        engine: golden.engine,
        inputs: golden.inputs,
        params: { nested: { a: null, b: true }, classes: ["seizure", "lpd"], img_size: 512, lr: 0.001 },
        code: golden.code,
        version: 2,
        stage: golden.stage,
        format: 2,
        reads: golden.reads,
        env: golden.env,
      }),
    )
    expect(Either.getOrThrow(computeKey(reordered))).toBe(Either.getOrThrow(computeKey(golden)))
    const variants: Array<KeyRecord> = [
      { ...golden, version: 3 },
      { ...golden, params: { ...(golden.params as object), lr: 0.002 } },
      { ...golden, inputs: { ...golden.inputs, models: ["cc".repeat(32), "bb".repeat(32)] } },
      { ...golden, engine: { ...golden.engine, backend: "tensorflow-gpu" } },
      { ...golden, engine: { ...golden.engine, node: "22" } },
      { ...golden, code: "0".repeat(64) },
      { ...golden, env: { CUDA_VISIBLE_DEVICES: "0" } },
      { ...golden, reads: { "param:pretrained": "ee".repeat(32) } },
      { ...golden, engine: { ...golden.engine, packages: { ...golden.engine.packages, effect: "3.22.5" } } },
    ]
    const keys = new Set(variants.map((v) => Either.getOrThrow(computeKey(v))))
    expect(keys.size).toBe(variants.length)
    expect(keys.has(Either.getOrThrow(computeKey(golden)))).toBe(false)
  })

  it("a declared env value that may be a credential enters the key hashed (golden, checked with Python); others as they are", () => {
    // sha256("cairn env\0HF_TOKEN\0hf_abc123"), as hashlib has it.
    expect(envKeyValue("HF_TOKEN", "hf_abc123")).toBe("sha256:51f5a9d23800711a5d2d351f6421a72e402a24d380942530b49feca9fbad0506")
    for (const name of ["HF_TOKEN", "AWS_SECRET_ACCESS_KEY", "db_password", "API_KEY", "GOOGLE_APPLICATION_CREDENTIALS"]) {
      expect(envKeyValue(name, "v")).toMatch(/^sha256:[0-9a-f]{64}$/)
    }
    expect(envKeyValue("HF_ENDPOINT", "https://user:pw@hub.example")).toMatch(/^sha256:[0-9a-f]{64}$/)
    expect(envKeyValue("HF_ENDPOINT", "https://user:pw@hub.example")).not.toBe(envKeyValue("HF_ENDPOINT", "https://user:pw2@hub.example"))
    expect(envKeyValue("HF_TOKEN", null)).toBeNull()
    // What is no credential is unchanged: the golden key above and every key with such env stay the same.
    expect(envKeyValue("HF_ENDPOINT", "https://hub.example")).toBe("https://hub.example")
    expect(envKeyValue("CUDA_VISIBLE_DEVICES", "0")).toBe("0")
    expect(envKeyRecord(["CUDA_VISIBLE_DEVICES", "HF_TOKEN"], { CUDA_VISIBLE_DEVICES: "0" })).toEqual({ CUDA_VISIBLE_DEVICES: "0", HF_TOKEN: null })
  })

  it("canonical JSON sorts keys, drops undefined properties and refuses what cannot be hashed", () => {
    expect(Either.getOrThrow(canonicalJson({ b: 1, a: [true, null, "x"], c: undefined, d: { z: 1e-7, y: -2 } }))).toBe(
      '{"a":[true,null,"x"],"b":1,"d":{"y":-2,"z":1e-7}}',
    )
    const refused: Array<[unknown, string]> = [
      [{ f: () => 1 }, "f"],
      [{ x: Number.NaN }, "x"],
      [{ x: Infinity }, "x"],
      [{ d: new Date(0) }, "d"],
      [{ m: new Map() }, "m"],
      [{ t: new Float32Array(2) }, "t"],
      [{ a: [1, undefined] }, "a[1]"],
      [{ s: Symbol("s") }, "s"],
      [{ b: 10n }, "b"],
      [{ z: -0 }, "z"],
    ]
    for (const [value, where] of refused) {
      const r = hashJson(value)
      expect(Either.isLeft(r), JSON.stringify(where)).toBe(true)
      if (Either.isLeft(r)) expect(r.left.path).toBe(where)
    }
    const cyclic: Record<string, unknown> = {}
    cyclic.self = cyclic
    expect(Either.isLeft(canonicalJson(cyclic))).toBe(true)
  })

  it("diffKeys names the param, code file, input and engine field that changed", () => {
    const after: KeyRecord = {
      ...golden,
      params: { ...(golden.params as object), lr: 0.01 },
      code: "f".repeat(64),
      inputs: { ...golden.inputs, table: "dd".repeat(32) },
      engine: { ...golden.engine, backend: "cpu", packages: { ...golden.engine.packages, effect: "3.23.0" } },
    }
    const changes = diffKeys(
      { record: golden, codeFiles: { "stages/a.ts": "1", "stages/helper.ts": "2", "stages/old.ts": "3" } },
      { record: after, codeFiles: { "stages/a.ts": "1", "stages/helper.ts": "9", "stages/new.ts": "4" } },
    ).map(describeChange)
    expect(changes).toEqual([
      "code: stages/helper.ts (modified), stages/new.ts (added), stages/old.ts (removed)",
      "param lr: 0.001 -> 0.01",
      "input table changed",
      'engine package effect: "3.22.4" -> "3.23.0"',
      'engine backend: "wasm" -> "cpu"',
    ])
  })

  it("the code closure follows real imports (static, dynamic, worker URLs), not other stages or unrelated files", async () => {
    const dir = makeProject({
      "stages/a.ts":
        'import { h } from "./lib/h.js"\nimport { b } from "./b.js"\nimport { Effect } from "effect"\nexport const a = () => import("./lib/lazy.js").then(() => h + b + String(Effect))\nexport const w = new URL("./lib/worker.ts", import.meta.url)\n',
      "stages/b.ts": 'import { h2 } from "./lib/h2.js"\nexport const b = h2\n',
      "stages/lib/h.ts": "export const h = 1\n",
      "stages/lib/h2.ts": "export const h2 = 2\n",
      "stages/lib/lazy.ts": 'import "@duckdb/node-api"\nexport const lazy = 1\n',
      "stages/lib/worker.ts": 'import { h } from "./h.js"\nexport default h\n',
      "stages/unrelated.ts": "export const u = 1\n",
    })
    const resolver = new ClosureResolver(dir, path.join(dir, "cache", "closures.json"))
    // b.ts is another stage's module and a.ts imports only its stage definition `b`: not followed.
    const stageExports = new Map([[path.join(dir, "stages/b.ts"), new Set(["b"])]])
    const closure = await Effect.runPromise(resolver.closureOf([path.join(dir, "stages/a.ts")], stageExports))
    expect(Object.keys(closure.files)).toEqual(["stages/a.ts", "stages/lib/h.ts", "stages/lib/lazy.ts", "stages/lib/worker.ts"])
    // Golden (checked with Python: sha256 of the JSON of {path: sha256(bytes)}).
    expect(closure.hash).toBe("acbe287d5041c85026ab4faf4d420d42ccf20201a02a3d92633c2a93b0fc16d2")
    expect(Object.keys(closure.packages)).toEqual(expect.arrayContaining(["effect", "@duckdb/node-api", "@duckdb/node-bindings"]))
  })

  it("an index of named re-exports, reached by the package's own name, adds only the modules behind the names taken", async () => {
    const dir = makeProject({
      "lib/index.ts": 'export { fit } from "./train.js"\nexport { score, type Score } from "./metric.js"\nexport { fit as train } from "./train.js"\n',
      "lib/train.ts": 'import { helper } from "./helper.js"\nexport const fit = helper\n',
      "lib/helper.ts": "export const helper = 1\n",
      "lib/metric.ts": "export type Score = number\nexport const score = 2\n",
      "lib/mixed.ts": 'export { fit } from "./train.js"\nexport const own = 3\n',
      "stages/score.ts": 'import { score } from "app/lib"\nexport const s = score\n',
      "stages/train.ts": 'import { train } from "app/lib"\nexport const t = train\n',
      "stages/all.ts": 'import * as lib from "app/lib"\nexport const a = lib\n',
      "stages/mixed.ts": 'import { own } from "./../lib/mixed.js"\nexport const m = own\n',
    })
    // makeProject's package.json, with a name and exports: `app/lib` is a self-reference.
    fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify({ name: "app", type: "module", private: true, exports: { "./lib": "./lib/index.ts" } }))
    const resolver = new ClosureResolver(dir, path.join(dir, "cache", "closures.json"))
    const files = async (stage: string) => Object.keys((await Effect.runPromise(resolver.closureOf([path.join(dir, "stages", stage)]))).files)
    expect(await files("score.ts")).toEqual(["lib/index.ts", "lib/metric.ts", "stages/score.ts"])
    // `train` is `fit` renamed: the module behind it is followed, and what it imports.
    expect(await files("train.ts")).toEqual(["lib/helper.ts", "lib/index.ts", "lib/train.ts", "stages/train.ts"])
    // A namespace import takes every name; a module with code of its own is no index.
    expect(await files("all.ts")).toEqual(["lib/helper.ts", "lib/index.ts", "lib/metric.ts", "lib/train.ts", "stages/all.ts"])
    expect(await files("mixed.ts")).toEqual(["lib/helper.ts", "lib/mixed.ts", "lib/train.ts", "stages/mixed.ts"])
    // An edit behind a name taken changes the key; one behind another name does not.
    const before = await Effect.runPromise(resolver.closureOf([path.join(dir, "stages/score.ts")]))
    fs.writeFileSync(path.join(dir, "lib/helper.ts"), "export const helper = 10\n")
    expect((await Effect.runPromise(resolver.closureOf([path.join(dir, "stages/score.ts")]))).hash).toBe(before.hash)
    fs.writeFileSync(path.join(dir, "lib/metric.ts"), "export type Score = number\nexport const score = 20\n")
    expect((await Effect.runPromise(resolver.closureOf([path.join(dir, "stages/score.ts")]))).hash).not.toBe(before.hash)
  })
})
