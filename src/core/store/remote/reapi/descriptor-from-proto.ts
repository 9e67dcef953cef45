/**
 * The protobufjs JSON descriptor of the vendored `remote_execution.proto` (with the google.protobuf
 * types it imports, as protobufjs ships them), field names as the .proto spells them. `descriptor.ts`
 * is its output, written once; a test checks the two still agree. To write it again after the
 * .proto changed:
 *
 *   node --import tsx -e 'import("./src/core/store/remote/reapi/descriptor-from-proto.ts").then((m) => m.printDescriptor())' > src/core/store/remote/reapi/descriptor.ts
 */
import * as fs from "node:fs"
import protobuf from "protobufjs"

/** The vendored .proto, beside this module. */
export const PROTO_FILE = new URL("./remote_execution.proto", import.meta.url)

/** The descriptor of the .proto `source`. */
export const descriptorFromProto = (source: string): protobuf.INamespace => {
  const root = new protobuf.Root()
  const parsed = protobuf.parse(source, root, { keepCase: true })
  for (const file of parsed.imports ?? []) {
    const common = protobuf.common.get(file)
    if (!common?.nested) throw new Error(`${file} is not one of the google.protobuf types protobufjs ships`)
    root.addJSON(common.nested)
  }
  return root.resolveAll().toJSON()
}

/** The text of `descriptor.ts` for the .proto `source`. */
export const descriptorModule = (source: string): string =>
  [
    "// Written by descriptor-from-proto.ts from remote_execution.proto (this folder): do not edit.",
    'import type protobuf from "protobufjs"',
    "",
    "/** The protobufjs JSON descriptor of remote_execution.proto (the subset vendored here). */",
    `export const REAPI_DESCRIPTOR: protobuf.INamespace = ${JSON.stringify(descriptorFromProto(source), null, 2)}`,
    "",
  ].join("\n")

/** Prints `descriptor.ts` for the vendored .proto (the command above). */
export const printDescriptor = (): void => void process.stdout.write(descriptorModule(fs.readFileSync(PROTO_FILE, "utf8")))
