/**
 * The pretrained-weights stage: a hub id downloaded from a real HTTP server on loopback laid out as
 * the Hugging Face hub (HF_ENDPOINT), once (the rerun is cached and fetches nothing); a file taken
 * as given, its content in the key; an unreachable hub fails naming the URL and how to pass the
 * file by hand.
 */
import * as fs from "node:fs"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { cliAsync, makeProject, REPO, removeProjects } from "../../support/helpers.js"

const WEIGHTS = Buffer.from(Array.from({ length: 50_000 }, (_, i) => (i * 7) % 256))
let server: http.Server
let endpoint = ""
let fetches = 0

beforeAll(async () => {
  server = http.createServer((req, res) => {
    if (req.url !== "/timm/tiny-weights/resolve/main/model.safetensors") {
      res.writeHead(404)
      res.end()
      return
    }
    fetches++
    res.writeHead(200, { "Content-Length": WEIGHTS.length })
    res.end(WEIGHTS)
  })
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r))
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})
afterAll(() => {
  server.close()
  removeProjects()
})

const project = () =>
  makeProject({
    "pipelines/weights.ts": `
import { definePipeline } from "${path.join(REPO, "src/index.ts")}"
import { pretrainedWeights } from "${path.join(REPO, "stages/hms/pretrained.ts")}"
export default definePipeline({ name: "weights", stages: [pretrainedWeights], params: { pretrained: "" }, publish: { "out/weights": pretrainedWeights } })
`,
    "my-weights.safetensors": "local weights",
  })

const run = (dir: string, param: string, env: Record<string, string> = {}) =>
  cliAsync(dir, ["run", "pipelines/weights.ts", "--param", `pretrained=${param}`, "--json", "r.json"], { CAIRN_NO_FAST_PATH: "1", ...env }).done
const statusOf = (dir: string) => (JSON.parse(fs.readFileSync(path.join(dir, "r.json"), "utf8")) as { stages: Array<{ status: string }> }).stages[0]!.status

describe("pretrained weights", () => {
  it("a hub id is downloaded once into the cache; the rerun fetches nothing", async () => {
    const dir = project()
    const first = await run(dir, "timm/tiny-weights", { HF_ENDPOINT: endpoint })
    expect(first.code, first.stdout + first.stderr).toBe(0)
    expect(fs.readFileSync(path.join(dir, "out/weights/model.safetensors")).equals(WEIGHTS)).toBe(true)
    expect(fetches).toBe(1)
    const again = await run(dir, "timm/tiny-weights", { HF_ENDPOINT: endpoint })
    expect(again.code).toBe(0)
    expect(statusOf(dir)).toBe("cached")
    expect(fetches).toBe(1)
  })

  it("a file is taken as given and its content is in the key", async () => {
    const dir = project()
    expect((await run(dir, "my-weights.safetensors")).code).toBe(0)
    expect(fs.readFileSync(path.join(dir, "out/weights/model.safetensors"), "utf8")).toBe("local weights")
    fs.writeFileSync(path.join(dir, "my-weights.safetensors"), "other weights")
    expect((await run(dir, "my-weights.safetensors")).code).toBe(0)
    expect(statusOf(dir)).toBe("ran")
    expect(fs.readFileSync(path.join(dir, "out/weights/model.safetensors"), "utf8")).toBe("other weights")
  })

  it("an unreachable hub fails naming the URL and how to pass the file by hand", async () => {
    const dir = project()
    const r = await run(dir, "timm/missing", { HF_ENDPOINT: endpoint })
    expect(r.code).toBe(1)
    expect(r.stdout).toContain(`download of ${endpoint}/timm/missing/resolve/main/model.safetensors failed: HTTP 404`)
    expect(r.stdout).toContain("--param pretrained=path/to/model.safetensors")
  })
})
