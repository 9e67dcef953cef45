/**
 * The action-cache entry codec (entries.ts, reapi/): the descriptor cairn builds its ActionResult
 * type from is the vendored remote_execution.proto's; an entry is an ActionResult any REAPI reader
 * decodes (its files under `out/`, its record as `.cairn/record.json`) and comes back as written;
 * what cairn never writes, and an entry of an earlier cairn, is refused with why.
 */
import * as fs from "node:fs"
import { Either } from "effect"
import protobuf from "protobufjs"
import { describe, expect, it } from "vitest"
import { sha256 } from "../../../../src/core/canonical.js"
import { decodeIndex, type EntryIndex, encodeIndex, RECORD_PATH, TREE_PREFIX } from "../../../../src/core/store/remote/entries.js"
import { ACTION_RESULT_TYPE, encodeActionResult } from "../../../../src/core/store/remote/reapi/action-result.js"
import { REAPI_DESCRIPTOR } from "../../../../src/core/store/remote/reapi/descriptor.js"
import { descriptorFromProto, PROTO_FILE } from "../../../../src/core/store/remote/reapi/descriptor-from-proto.js"

const index: EntryIndex = {
  record: { hash: sha256("record"), size: 6 },
  files: [
    ["a.txt", sha256("a"), 1],
    ["sub/b.bin", sha256("bb"), 2],
  ],
}

describe("action cache entries as REAPI ActionResults", () => {
  it("the descriptor is the vendored remote_execution.proto's (regenerate: see descriptor-from-proto.ts)", () => {
    expect(REAPI_DESCRIPTOR).toEqual(descriptorFromProto(fs.readFileSync(PROTO_FILE, "utf8")))
  })

  it("an entry is an ActionResult naming each file under out/ and the record, and decodes as written", () => {
    const bytes = encodeIndex(index)
    // Read with the .proto itself, as another REAPI client would.
    const type = protobuf.Root.fromJSON(descriptorFromProto(fs.readFileSync(PROTO_FILE, "utf8"))).lookupType(ACTION_RESULT_TYPE)
    const read = type.toObject(type.decode(bytes), { longs: Number })
    expect(read["output_files"]).toEqual([
      { path: `${TREE_PREFIX}a.txt`, digest: { hash: sha256("a"), size_bytes: 1 } },
      { path: `${TREE_PREFIX}sub/b.bin`, digest: { hash: sha256("bb"), size_bytes: 2 } },
      { path: RECORD_PATH, digest: { hash: sha256("record"), size_bytes: 6 } },
    ])
    expect(read["execution_metadata"]).toEqual({ worker: "cairn" })
    expect(decodeIndex(bytes)).toEqual(Either.right({ index, signature: undefined }))
    const signature = new Uint8Array(32).fill(7)
    expect(decodeIndex(encodeIndex(index, signature))).toEqual(Either.right({ index, signature: Buffer.from(signature) }))
  })

  it("refuses what cairn never writes, and an earlier cairn's JSON, saying why", () => {
    const refused = (bytes: Uint8Array) => Either.match(decodeIndex(bytes), { onLeft: (why) => why, onRight: () => "accepted" })
    const file = (path: string, hash = sha256("a")) => ({ path, digest: { hash, size_bytes: 1 } })
    const record = file(RECORD_PATH, sha256("record"))
    expect(refused(Buffer.from(JSON.stringify({ format: 1, files: [] })))).toBe("an entry of an earlier cairn (format 1, not an ActionResult)")
    expect(refused(Buffer.from(`cairn-sig-v1 ${"0".repeat(64)}\n{}`))).toBe("an entry of an earlier cairn (format 1, not an ActionResult)")
    expect(refused(Buffer.from([0x12, 0xff, 0xff]))).toMatch(/^not an ActionResult \(/)
    expect(refused(encodeActionResult({ output_files: [file("out/a.txt")] }))).toBe(`no ${RECORD_PATH}: not an entry of cairn`)
    expect(refused(encodeActionResult({ output_files: [file("elsewhere.txt"), record] }))).toBe('an output file outside out/: "elsewhere.txt"')
    expect(refused(encodeActionResult({ output_files: [record, record] }))).toBe(`${RECORD_PATH} twice`)
    expect(refused(encodeActionResult({ output_files: [record], exit_code: 1 }))).toBe("an ActionResult of a failed action (exit code 1)")
    expect(refused(encodeActionResult({ output_files: [record], stdout_digest: { hash: sha256("log"), size_bytes: 3 } }))).toMatch(/stdout or stderr digest/)
    expect(refused(encodeActionResult({ output_files: [file("out/a.txt", "not-a-sha"), record] }))).toMatch(/a digest for out\/a.txt that is no sha256/)
    expect(refused(encodeActionResult({ output_files: [file("out/../x"), record] }))).toBe('a file path outside its tree: "../x"')
  })
})
