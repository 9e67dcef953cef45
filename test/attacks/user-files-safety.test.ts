/**
 * cairn never deletes or changes a file it did not write (issue 24, "Data loss"): `export` into a
 * folder of the user's, `clean`/`gc`/`verify` on a folder that is not a store, publishing and the
 * after-run report into folders the user also writes into, and a failed run's stale outputs.
 */
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, beforeEach, describe, expect, it } from "vitest"
import { fixtureFiles } from "../support/fixture-project.js"
import { cli, makeProject, removeProjects, writeFile } from "../support/helpers.js"
import { writeFilesInto } from "../../src/cli/written-files.js"

const MANIFEST = ".cairn-written.json"
const STORE_MARKER = "CAIRN-STORE.json"
const STALE_NOTE = "CAIRN-STALE.txt"

const read = (file: string) => fs.readFileSync(file, "utf8")
const sha256 = (text: string) => createHash("sha256").update(text).digest("hex")
const manifestOf = (dir: string) =>
  JSON.parse(read(path.join(dir, MANIFEST))) as { files: Record<string, string>; origin: { by: string; what: string }; stale?: unknown }
/** Every file under `dir`, relative, sorted. */
const filesUnder = (dir: string): Array<string> =>
  fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    .sort()

/** A folder of the user's: `precious.txt` and `sub/y`. */
const userFolder = (dir: string) => {
  fs.mkdirSync(path.join(dir, "sub"), { recursive: true })
  fs.writeFileSync(path.join(dir, "precious.txt"), "mine\n")
  fs.writeFileSync(path.join(dir, "sub", "y"), "also mine\n")
}

describe("cairn never deletes or changes a file it did not write", () => {
  afterAll(removeProjects)
  let dir: string
  beforeEach(() => {
    dir = makeProject(fixtureFiles())
  })

  describe("export", () => {
    it("refuses a non-empty folder that is not an earlier export, and writes into it with --force without removing anything", async () => {
      const work = path.join(dir, "work")
      userFolder(work)
      // Before: `exported count -> .`, exit 0, and only words.json left.
      const refused = await cli(work, ["export", "../pipelines/chain.ts", "count", "."])
      expect(refused.code, refused.stderr).toBe(2)
      expect(refused.stderr).toContain(`${work} is not empty and holds no earlier export of cairn's (no ${MANIFEST}): nothing written`)
      expect(refused.stderr).toContain("--force")
      expect(filesUnder(work)).toEqual(["precious.txt", "sub/y"])
      // Refused before running anything.
      expect(fs.existsSync(path.join(dir, "cache", "state", "chain", "count.json"))).toBe(false)

      const forced = await cli(work, ["export", "../pipelines/chain.ts", "count", ".", "--force"])
      expect(forced.code, forced.stderr).toBe(0)
      expect(filesUnder(work)).toEqual([MANIFEST, "precious.txt", "sub/y", "words.json"].sort())
      expect(read(path.join(work, "precious.txt"))).toBe("mine\n")
      expect(read(path.join(work, "sub", "y"))).toBe("also mine\n")
      const m = manifestOf(work)
      expect(m.files).toEqual({ "words.json": sha256(read(path.join(work, "words.json"))) })
      expect(m.origin).toMatchObject({ by: "export", what: "count" })
    })

    it("an earlier export is replaced file by file: the user's files stay, a file the user changed is not overwritten without --force", async () => {
      const exp = path.join(dir, "exp")
      expect((await cli(dir, ["export", "pipelines/chain.ts", "clean", "exp"])).code).toBe(0)
      expect(filesUnder(exp)).toEqual([MANIFEST, "clean.txt"].sort())
      fs.writeFileSync(path.join(exp, "notes.md"), "my notes\n")

      // Another stage into the same export folder: cairn's clean.txt goes, the user's notes stay.
      const second = await cli(dir, ["export", "pipelines/chain.ts", "count", "exp"])
      expect(second.code, second.stderr).toBe(0)
      expect(filesUnder(exp)).toEqual([MANIFEST, "notes.md", "words.json"].sort())
      expect(read(path.join(exp, "notes.md"))).toBe("my notes\n")

      // The user edits the exported file: a new export does not overwrite it.
      fs.writeFileSync(path.join(exp, "words.json"), '["edited"]')
      const changed = await cli(dir, ["export", "pipelines/chain.ts", "count", "exp", "--param", "min=6"])
      expect(changed.code, changed.stderr).toBe(2)
      expect(changed.stderr).toContain(`${path.join(exp, "words.json")} was changed since cairn wrote it: not overwritten`)
      expect(read(path.join(exp, "words.json"))).toBe('["edited"]')

      const forced = await cli(dir, ["export", "pipelines/chain.ts", "count", "exp", "--param", "min=6", "--force"])
      expect(forced.code, forced.stderr).toBe(0)
      expect(JSON.parse(read(path.join(exp, "words.json")))).toEqual(["Second"])
      expect(read(path.join(exp, "notes.md"))).toBe("my notes\n")

      // A file of cairn's that the user changed and that is no longer exported stays, unlisted.
      fs.writeFileSync(path.join(exp, "words.json"), '["edited again"]')
      const third = await cli(dir, ["export", "pipelines/chain.ts", "clean", "exp"])
      expect(third.code, third.stderr).toBe(0)
      expect(third.stderr).toContain(`kept ${path.join(exp, "words.json")}: changed since cairn exported it`)
      expect(filesUnder(exp)).toEqual([MANIFEST, "clean.txt", "notes.md", "words.json"].sort())
      expect(Object.keys(manifestOf(exp).files)).toEqual(["clean.txt"])
    })

    it("a DEST that is a file is refused, with or without --force", async () => {
      const plain = path.join(dir, "plain")
      fs.writeFileSync(plain, "x")
      for (const force of [[], ["--force"]]) {
        const r = await cli(dir, ["export", "pipelines/chain.ts", "count", "plain", ...force])
        expect(r.code, r.stderr).toBe(2)
        expect(r.stderr).toContain(`${plain} is a file or a link where the output needs a folder: nothing written`)
        expect(read(plain)).toBe("x")
      }
    })
  })

  describe("clean, gc and verify act only on a store", () => {
    it("refuse a folder that is not a cairn store, by --cache-dir or CAIRN_CACHE_DIR, and remove nothing", async () => {
      const folder = path.join(dir, "not-a-store")
      userFolder(folder)
      // Before: `removed every result in .../not-a-store` and an empty folder.
      for (const [args, env] of [
        [["clean", "--cache-dir", folder], {}],
        [["clean"], { CAIRN_CACHE_DIR: folder }],
        [["gc", "--cache-dir", folder], {}],
        [["verify", "--cache-dir", folder], {}],
      ] as const) {
        const r = await cli(dir, args, env)
        expect(r.code, `${args.join(" ")}: ${r.stderr}`).toBe(2)
        expect(r.stderr).toContain(`${folder} is not a cairn store (no ${STORE_MARKER}): nothing removed`)
        expect(r.stderr).toContain("precious.txt")
        expect(filesUnder(folder)).toEqual(["precious.txt", "sub/y"])
      }
    })

    it("a run refuses to make its cache in a folder of other files; a new folder becomes a marked store", async () => {
      const folder = path.join(dir, "not-a-store")
      userFolder(folder)
      const r = await cli(dir, ["run", "pipelines/chain.ts", "--cache-dir", folder])
      expect(r.code, r.stderr).toBe(2)
      expect(r.stderr).toContain(folder)
      expect(r.stderr).toContain(`not a cairn store (no ${STORE_MARKER})`)
      expect(fs.readdirSync(folder).sort()).toEqual(["precious.txt", "sub"])

      expect((await cli(dir, ["run", "pipelines/chain.ts"])).code).toBe(0)
      expect(JSON.parse(read(path.join(dir, "cache", STORE_MARKER)))).toMatchObject({ store: "cairn" })
    })

    it("clean removes only the store's own entries: a file put beside them stays", async () => {
      expect((await cli(dir, ["run", "pipelines/chain.ts"])).code).toBe(0)
      fs.writeFileSync(path.join(dir, "cache", "README.txt"), "the team's notes\n")
      const r = await cli(dir, ["clean"])
      expect(r.code, r.stderr).toBe(0)
      expect(fs.readdirSync(path.join(dir, "cache")).sort()).toEqual([STORE_MARKER, "README.txt", "leases", "locks"])
      expect(read(path.join(dir, "cache", "README.txt"))).toBe("the team's notes\n")
      // Still a store: the next run computes everything again.
      expect((await cli(dir, ["run", "pipelines/chain.ts"])).code).toBe(0)
    })

    it("a store of an older cairn (no marker) is marked by its next run, and only then cleaned", async () => {
      expect((await cli(dir, ["run", "pipelines/chain.ts"])).code).toBe(0)
      fs.rmSync(path.join(dir, "cache", STORE_MARKER))
      const refused = await cli(dir, ["clean"])
      expect(refused.code, refused.stderr).toBe(2)
      expect(refused.stderr).toContain("older cairn")
      expect(fs.existsSync(path.join(dir, "cache", "runs"))).toBe(true)

      const run = await cli(dir, ["run", "pipelines/chain.ts"], { CAIRN_NO_FAST_PATH: "1" })
      expect(run.code, run.stderr).toBe(0)
      expect(run.stdout).toContain("0 ran")
      expect(fs.existsSync(path.join(dir, "cache", STORE_MARKER))).toBe(true)
      expect((await cli(dir, ["clean"])).code).toBe(0)
      expect(fs.existsSync(path.join(dir, "cache", "runs"))).toBe(false)
    })

    it("gc --keep-last refuses zero and negative counts", async () => {
      expect((await cli(dir, ["run", "pipelines/chain.ts"])).code).toBe(0)
      for (const n of ["-1", "0"]) {
        const r = await cli(dir, ["gc", "--keep-last", n])
        expect(r.code, r.stderr).toBe(2)
        expect(r.stderr).toContain("--keep-last must be at least 1")
      }
      expect(fs.readdirSync(path.join(dir, "cache", "runs")).length).toBeGreaterThan(0)
    })
  })

  describe("publishing and the after-run report", () => {
    it("replace only what they wrote before: the user's files stay, a changed file is refused, a no-op rerun is still replayed", async () => {
      expect((await cli(dir, ["run", "pipelines/chain.ts"])).code).toBe(0)
      fs.writeFileSync(path.join(dir, "out", "other", "mine.txt"), "kept\n")
      fs.writeFileSync(path.join(dir, "out", "report", "mine.md"), "kept too\n")

      // Before: both files deleted by the next run.
      const r = await cli(dir, ["run", "pipelines/chain.ts", "--param", "tag=t2", "--json", "r.json"])
      expect(r.code, r.stderr).toBe(0)
      expect(read(path.join(dir, "out", "other", "tagged.txt"))).toBe("t2:Hello World\nSecond File")
      expect(read(path.join(dir, "out", "other", "mine.txt"))).toBe("kept\n")
      expect(read(path.join(dir, "out", "report", "mine.md"))).toBe("kept too\n")
      expect(r.stdout).toContain("published other -> out/other/ (mine.txt, tagged.txt)")
      expect(Object.keys(manifestOf(path.join(dir, "out", "other")).files)).toEqual(["tagged.txt"])

      // The same command again is replayed from its stamp: the manifests are no user change.
      // The fast path on even where the suite runs with CAIRN_NO_FAST_PATH=1: this checks its replay.
      const replay = await cli(dir, ["run", "pipelines/chain.ts", "--param", "tag=t2", "--json", "r.json"], { CAIRN_NO_FAST_PATH: "" })
      expect(replay.code, replay.stderr).toBe(0)
      expect(JSON.parse(read(path.join(dir, "r.json"))).replayed).toBe(true)
      expect(read(path.join(dir, "out", "report", "mine.md"))).toBe("kept too\n")
      expect(read(path.join(dir, "out", "report", "summary.txt"))).toContain("other cached")

      // The user edits the published file: the next run does not overwrite it.
      fs.writeFileSync(path.join(dir, "out", "other", "tagged.txt"), "my edit")
      const refused = await cli(dir, ["run", "pipelines/chain.ts", "--param", "tag=t3"])
      expect(refused.code, refused.stderr).not.toBe(0)
      expect(refused.stderr).toContain(`${path.join(dir, "out", "other", "tagged.txt")} was changed since cairn wrote it: not overwritten`)
      expect(read(path.join(dir, "out", "other", "tagged.txt"))).toBe("my edit")
    })

    it("a failed run marks the earlier run's folders stale; the next successful run clears the mark", async () => {
      expect((await cli(dir, ["run", "pipelines/chain.ts"])).code).toBe(0)
      const other = path.join(dir, "stages", "other.ts")
      writeFile(
        dir,
        "stages/other.ts",
        read(other).replace("logRun(ctx.id)", 'if (ctx.params.tag === "fail") throw new Error("failing on purpose")\n    logRun(ctx.id)'),
      )

      // Before: exit 1, and out/ still holds the earlier run's files with nothing saying so.
      const failed = await cli(dir, ["run", "pipelines/chain.ts", "--param", "tag=fail"])
      expect(failed.code, failed.stderr).toBe(1)
      for (const folder of ["out/merge", "out/other", "out/report"]) {
        expect(failed.stdout).toContain(`${folder}/ is from an earlier run: marked stale (this run failed)`)
        expect(read(path.join(dir, folder, STALE_NOTE))).toContain("failed")
        expect(manifestOf(path.join(dir, folder)).stale).toBeDefined()
      }
      expect(read(path.join(dir, "out", "other", "tagged.txt"))).toBe("t:Hello World\nSecond File")

      const ok = await cli(dir, ["run", "pipelines/chain.ts", "--param", "tag=t4"])
      expect(ok.code, ok.stderr).toBe(0)
      for (const folder of ["out/merge", "out/other", "out/report"]) {
        expect(fs.existsSync(path.join(dir, folder, STALE_NOTE)), folder).toBe(false)
        expect(manifestOf(path.join(dir, folder)).stale).toBeUndefined()
      }
      expect(read(path.join(dir, "out", "other", "tagged.txt"))).toBe("t4:Hello World\nSecond File")
    })
  })

  describe("the manifest of written files", () => {
    const origin = { by: "export", what: "t" } as const
    const strict = { unmarked: "refuse", overwriteChanged: false } as const
    const folderOf = (files: Record<string, string>) => {
      const d = fs.mkdtempSync(path.join(dir, "src-"))
      for (const [rel, text] of Object.entries(files)) writeFile(d, rel, text)
      return d
    }

    it("never writes or removes through a link that leads out of the folder", () => {
      const outside = path.join(dir, "outside")
      fs.mkdirSync(outside)
      fs.writeFileSync(path.join(outside, "a.txt"), "A")
      const dest = path.join(dir, "dest")
      expect(writeFilesInto(folderOf({ "sub/a.txt": "A" }), dest, origin, strict).refused).toBeUndefined()
      // The user replaces the folder cairn wrote with a link to theirs, holding the same content.
      fs.rmSync(path.join(dest, "sub"), { recursive: true })
      fs.symlinkSync(outside, path.join(dest, "sub"))
      const write = writeFilesInto(folderOf({ "sub/a.txt": "B" }), dest, origin, { unmarked: "write-over", overwriteChanged: true })
      expect(write.refused).toMatchObject({ reason: "not-a-folder", file: path.join(dest, "sub") })
      const remove = writeFilesInto(folderOf({ "b.txt": "B" }), dest, origin, strict)
      expect(remove.refused).toBeUndefined()
      expect(remove.done?.kept).toEqual(["sub/a.txt"])
      expect(read(path.join(outside, "a.txt"))).toBe("A")
    })

    it("a write killed half-way leaves files the next write still knows as its own", () => {
      const dest = path.join(dir, "dest")
      expect(writeFilesInto(folderOf({ "a.txt": "old" }), dest, origin, strict).refused).toBeUndefined()
      // As a write of "a.txt" = "new" killed after the file but before the final manifest.
      const m = JSON.parse(read(path.join(dest, MANIFEST)))
      fs.writeFileSync(path.join(dest, MANIFEST), JSON.stringify({ ...m, pending: { "a.txt": sha256("new") } }))
      fs.writeFileSync(path.join(dest, "a.txt"), "new")
      const next = writeFilesInto(folderOf({ "b.txt": "b" }), dest, origin, strict)
      expect(next.done?.removed).toEqual(["a.txt"])
      expect(filesUnder(dest)).toEqual([MANIFEST, "b.txt"].sort())
    })

    it("a file of the user's that happens to hold the output's content stays the user's", () => {
      const dest = path.join(dir, "dest")
      expect(writeFilesInto(folderOf({ "a.txt": "a" }), dest, origin, strict).refused).toBeUndefined()
      fs.writeFileSync(path.join(dest, "b.txt"), "b")
      expect(writeFilesInto(folderOf({ "a.txt": "a", "b.txt": "b" }), dest, origin, strict).refused).toBeUndefined()
      expect(Object.keys(JSON.parse(read(path.join(dest, MANIFEST))).files)).toEqual(["a.txt"])
      const next = writeFilesInto(folderOf({ "c.txt": "c" }), dest, origin, strict)
      expect(next.done?.removed).toEqual(["a.txt"])
      expect(filesUnder(dest)).toEqual([MANIFEST, "b.txt", "c.txt"].sort())
    })

    it("an output holding a file of the manifest's name is refused before anything is written", () => {
      const dest = path.join(dir, "dest")
      const r = writeFilesInto(folderOf({ [MANIFEST]: "{}", "a.txt": "a" }), dest, origin, strict)
      expect(r.refused).toMatchObject({ reason: "reserved" })
      expect(fs.existsSync(dest)).toBe(false)
    })
  })
})
