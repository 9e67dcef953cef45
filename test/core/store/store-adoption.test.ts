/**
 * Issue 24, "the store copies, never adopts": a stage whose output holds a hard link to a user's
 * file, or a symbolic link out of the output, must not make the store take in the user's files;
 * and a store object edited in place with its size and mtime put back is a miss, not a hit.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { removeProjects } from "../../support/helpers.js"
import { attackProject, cairn, flipFirstByte, PATHS, ran, run, storedCleanFile } from "../../attacks/attack.js"

const files = {
  "user/notes.txt": "the user's notes\n",
  "user/deep/secret.txt": "a secret\n",
  "stages/linker.ts": `
import * as fs from "node:fs"
import * as path from "node:path"
import { Effect, Schema } from "effect"
import { defineStage } from "@cairn"
export const linker = defineStage({
  name: "linker",
  params: Schema.Struct({ how: Schema.String }),
  run: (ctx) => Effect.sync(() => {
    const out = ctx.outDir
    const user = path.resolve("user")
    fs.writeFileSync(path.join(out, "own.txt"), "written by the stage")
    switch (ctx.params.how) {
      case "hardlink":
        fs.linkSync(path.join(user, "notes.txt"), path.join(out, "notes.txt"))
        break
      case "dir-outside":
        fs.symlinkSync(user, path.join(out, "home"))
        break
      case "file-outside":
        fs.symlinkSync(path.join(user, "notes.txt"), path.join(out, "notes.txt"))
        break
      case "dangling":
        fs.symlinkSync("no-such-file", path.join(out, "gone.txt"))
        break
      case "loop":
        fs.mkdirSync(path.join(out, "sub"))
        fs.symlinkSync("..", path.join(out, "sub", "up"))
        break
      case "inside":
        fs.mkdirSync(path.join(out, "real"))
        fs.writeFileSync(path.join(out, "real", "data.txt"), "inside data")
        fs.symlinkSync("real/data.txt", path.join(out, "alias.txt"))
        fs.symlinkSync("real", path.join(out, "alias-dir"))
        break
    }
    return ctx.params.how
  }),
})
`,
  "pipelines/linker.ts": `
import { definePipeline } from "@cairn"
import { linker } from "../stages/linker.js"
export default definePipeline({ name: "linker", stages: [linker], params: { how: "hardlink" }, publish: { "out/linker": linker } })
`,
  "pipelines/clean-pub.ts": `
import { definePipeline } from "@cairn"
import { clean } from "../stages/clean.js"
export default definePipeline({ name: "clean-pub", stages: [clean], params: { data: "data", lower: false }, publish: { "out/clean": clean } })
`,
}

/** Every regular file under `dir` (relative paths). */
const filesUnder = (dir: string): Array<string> =>
  fs.existsSync(dir) ? (fs.readdirSync(dir, { recursive: true }) as Array<string>).filter((f) => fs.lstatSync(path.join(dir, f)).isFile()) : []

/** The stored files of every tree, by relative path. */
const storedFiles = (dir: string): Array<string> => {
  const trees = path.join(dir, "cache", "trees")
  return fs.existsSync(trees) ? fs.readdirSync(trees).flatMap((t) => filesUnder(path.join(trees, t)).map((f) => path.join(trees, t, f))) : []
}

describe.each(PATHS)("the store copies, never adopts ($name)", (via) => {
  afterAll(removeProjects)

  it("a hard link to a user's file is copied in: the user's file keeps its mode and link count, and editing it later changes no stored result", async () => {
    const dir = attackProject(files)
    const notes = path.join(dir, "user/notes.txt")
    const before = fs.statSync(notes)
    const first = await run(dir, via, "pipelines/linker.ts")
    expect(first.code, first.stderr).toBe(0)
    const after = fs.statSync(notes)
    expect(after.mode).toBe(before.mode)
    expect(after.nlink).toBe(1)
    const stored = storedFiles(dir).filter((f) => path.basename(f) === "notes.txt")
    expect(stored.length).toBe(1)
    expect(fs.statSync(stored[0]!).ino).not.toBe(after.ino)
    // The user edits their file: the stored result (and what is published from it) stays as computed.
    fs.appendFileSync(notes, "edited later\n")
    const again = await run(dir, via, "pipelines/linker.ts")
    expect(again.code, again.stderr).toBe(0)
    expect(again.statuses.linker).toBe("cached")
    expect(fs.readFileSync(path.join(dir, "out/linker/notes.txt"), "utf8")).toBe("the user's notes\n")
    expect(fs.readFileSync(notes, "utf8")).toBe("the user's notes\nedited later\n")
    const verify = await cairn(dir, ["verify"])
    expect(verify.code, verify.stdout + verify.stderr).toBe(0)
    expect(verify.stdout).toContain("store is consistent")
  })

  it.each([
    ["dir-outside", "home", "user"],
    ["file-outside", "notes.txt", "user/notes.txt"],
    ["dangling", "gone.txt", "no-such-file"],
    ["loop", "sub/up", ".."],
  ])("a symbolic link that is not followed (%s) fails the stage naming the link and its target; nothing of the user's is stored", async (how, link, target) => {
    const dir = attackProject(files)
    const modes = new Map(["user/notes.txt", "user/deep/secret.txt"].map((f) => [f, fs.statSync(path.join(dir, f)).mode]))
    const r = await run(dir, via, "pipelines/linker.ts", ["--param", `how=${how}`])
    expect(r.code).not.toBe(0)
    expect(r.statuses.linker).toBe("failed")
    const said = r.stdout + r.stderr
    expect(said).toContain(`output ${link} is a symbolic link to ${how.endsWith("outside") ? path.join(dir, target) : target}`)
    for (const [f, mode] of modes) {
      const st = fs.statSync(path.join(dir, f))
      expect(st.mode, f).toBe(mode)
      expect(st.nlink, f).toBe(1)
    }
    expect(storedFiles(dir)).toEqual([])
    const objects = filesUnder(path.join(dir, "cache", "objects")).map((f) => fs.readFileSync(path.join(dir, "cache", "objects", f), "utf8"))
    expect(objects).not.toContain("the user's notes\n")
    expect(objects).not.toContain("a secret\n")
  })

  it("a symbolic link inside the output is stored as the file (or folder) it points to", async () => {
    const dir = attackProject(files)
    const r = await run(dir, via, "pipelines/linker.ts", ["--param", "how=inside"])
    expect(r.code, r.stderr).toBe(0)
    const stored = storedFiles(dir)
      .map((f) => f.split(`${path.sep}trees${path.sep}`)[1]!.split(path.sep).slice(1).join("/"))
      .sort()
    expect(stored).toEqual(["alias-dir/data.txt", "alias.txt", "own.txt", "real/data.txt"])
    for (const f of storedFiles(dir)) expect(fs.lstatSync(f).isFile(), f).toBe(true)
    expect(fs.readFileSync(path.join(dir, "out/linker/alias.txt"), "utf8")).toBe("inside data")
    expect(fs.readFileSync(path.join(dir, "out/linker/alias-dir/data.txt"), "utf8")).toBe("inside data")
    const again = await run(dir, via, "pipelines/linker.ts", ["--param", "how=inside"])
    expect(again.code, again.stderr).toBe(0)
    expect(again.statuses.linker).toBe("cached")
  })

  it("a store object changed in place with its size and mtime put back is a miss: the stage reruns and the right content is published", async () => {
    const dir = attackProject(files)
    const first = await run(dir, via, "pipelines/clean-pub.ts")
    expect(first.code, first.stderr).toBe(0)
    expect(fs.readFileSync(path.join(dir, "out/clean/clean.txt"), "utf8")).toBe("Hello World\nSecond File")
    const object = storedCleanFile(dir)
    const { size } = fs.statSync(object)
    flipFirstByte(object, true)
    expect(fs.statSync(object).size).toBe(size)
    const again = await run(dir, via, "pipelines/clean-pub.ts")
    expect(again.code, again.stderr).toBe(0)
    expect(again.replayed).toBe(false)
    expect(ran(again)).toEqual(["clean"])
    expect(fs.readFileSync(path.join(dir, "out/clean/clean.txt"), "utf8")).toBe("Hello World\nSecond File")
    expect(fs.readdirSync(path.join(dir, "cache", "quarantine")).length).toBe(1)
    const verify = await cairn(dir, ["verify"])
    expect(verify.code, verify.stdout + verify.stderr).toBe(0)
    expect(verify.stdout).toContain("store is consistent")
  })
})
