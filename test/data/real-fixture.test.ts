import * as fs from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { HMS_REAL_DIR, HMS_REAL_SHARED_DIR } from "./real-fixture-golden.js"

const FILES = ["test.csv", "sample_submission.csv", "test_spectrograms/853520.parquet"]

describe("the real HMS sample in test/fixtures", () => {
  it("is all there", () => {
    for (const f of FILES) expect(fs.existsSync(join(HMS_REAL_DIR, f)), f).toBe(true)
  })
  it.skipIf(!fs.existsSync(HMS_REAL_SHARED_DIR))("is byte for byte the shared original", () => {
    for (const f of FILES) expect(fs.readFileSync(join(HMS_REAL_DIR, f)).equals(fs.readFileSync(join(HMS_REAL_SHARED_DIR, f))), f).toBe(true)
  })
})
