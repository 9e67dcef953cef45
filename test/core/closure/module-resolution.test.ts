/**
 * The closure resolves imports exactly as the runtime does: a matrix of specifiers, each resolved
 * by tsx in a real process (the module it loads says which file it is) and by `resolveSpecifier`.
 */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { loadResolveConfig, resolveSpecifier } from "../../../src/core/closure/module-resolution.js"
import { REPO } from "../../support/helpers.js"

/** [importing file, specifier] pairs: what each resolves to must agree. */
const CASES: ReadonlyArray<readonly [string, string]> = [
  ["cases/ts-parent.ts", "../lib/stray.js"], // stray.ts beside stray.js: tsx runs the .ts
  ["cases/ts-parent.ts", "../lib/only-js.js"],
  ["cases/ts-parent.ts", "../lib/view.js"], // view.tsx
  ["cases/ts-parent.ts", "../lib/plain"], // extensionless
  ["cases/ts-parent.ts", "../lib/both"], // both.ts and both.tsx
  ["cases/ts-parent.ts", "../lib/folder"], // folder/index.ts
  ["cases/ts-parent.ts", "../lib/module.mjs"], // module.mts
  ["cases/ts-parent.ts", "#lib/sub.js"], // package.json imports
  ["cases/ts-parent.ts", "@app/aliased"], // tsconfig paths
  ["cases/ts-parent.ts", "../lib/stray.ts"], // explicit .ts
  ["cases/js-parent.js", "../lib/stray.js"], // a JS parent: the literal file first
  ["cases/ts-parent.ts", "resolve-matrix"], // the project's own name: package.json exports "."
  ["cases/ts-parent.ts", "resolve-matrix/sub"], // a self-reference's subpath
  ["cases/ts-parent.ts", "resolve-matrix/lib/both"], // a self-reference through an exports pattern
]

const FILES: Record<string, string> = {
  "lib/stray.ts": "",
  "lib/stray.js": "",
  "lib/only-js.js": "",
  "lib/view.tsx": "",
  "lib/plain.ts": "",
  "lib/both.ts": "",
  "lib/both.tsx": "",
  "lib/folder/index.ts": "",
  "lib/module.mts": "",
  "lib/sub.ts": "",
  "src/app/aliased.ts": "",
}

const roots: Array<string> = []
afterAll(() => {
  for (const r of roots.splice(0)) fs.rmSync(r, { recursive: true, force: true })
})

/** A project holding every case: each target module exports its own path as `who`. */
const project = () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-resolve-"))
  roots.push(root)
  const write = (rel: string, text: string) => {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true })
    fs.writeFileSync(path.join(root, rel), text)
  }
  write(
    "package.json",
    JSON.stringify({
      name: "resolve-matrix",
      type: "module",
      private: true,
      imports: { "#lib/*": "./lib/*" },
      exports: { ".": "./lib/plain.ts", "./sub": "./lib/sub.ts", "./lib/*": "./lib/*.tsx" },
    }),
  )
  write(
    "tsconfig.json",
    JSON.stringify({ compilerOptions: { module: "NodeNext", moduleResolution: "NodeNext", allowJs: false, baseUrl: ".", paths: { "@app/*": ["src/app/*"] } } }),
  )
  fs.symlinkSync(path.join(REPO, "node_modules"), path.join(root, "node_modules"))
  for (const rel of Object.keys(FILES)) write(rel, `export const who = ${JSON.stringify(rel)}\n`)
  CASES.forEach(([parent, spec], i) => {
    const ext = path.extname(parent)
    write(`cases/case-${i}${ext}`, `export { who } from ${JSON.stringify(spec)}\n`)
  })
  write(
    "run.ts",
    `const out: Array<string> = []
for (let i = 0; i < ${CASES.length}; i++) {
  const ext = ${JSON.stringify(CASES.map(([p]) => path.extname(p)))}[i]
  try { out.push((await import(\`./cases/case-\${i}\${ext}\`)).who) } catch (e) { out.push("error: " + String(e).split("\\n")[0]) }
}
console.log(JSON.stringify(out))
`,
  )
  return root
}

describe("import resolution matches tsx", () => {
  it("every case of the matrix resolves to the file tsx loads", () => {
    const root = project()
    const r = spawnSync(process.execPath, ["--import", "tsx", "run.ts"], { cwd: root, encoding: "utf8", timeout: 60_000 })
    expect(r.status, r.stderr).toBe(0)
    const loaded = JSON.parse(r.stdout.trim().split("\n").at(-1)!) as Array<string>
    const config = loadResolveConfig(root)
    const ours = CASES.map(([parent], i) => {
      const res = resolveSpecifier(CASES[i]![1], path.join(root, "cases", `case-${i}${path.extname(parent)}`), config)
      return res.kind === "file" ? path.relative(root, res.file) : res.kind
    })
    const table = CASES.map(([parent, spec], i) => ({ parent, spec, tsx: loaded[i], cairn: ours[i] }))
    for (const row of table) expect(row.cairn, `${row.parent} imports ${row.spec}`).toBe(row.tsx)
    // The matrix means something only if tsx resolved every case.
    expect(loaded.filter((l) => l.startsWith("error"))).toEqual([])
  })
})
