/**
 * The weights training starts from: nothing (random init), a safetensors file, or a Hugging Face
 * hub id (`timm/resnet34d.ra2_in1k`, the seed's `pretrained=True`), downloaded once: the stage's
 * output is the file, so its content hash is in the key of every fold that trains from it and a
 * rerun never downloads again. A cut download resumes from where it stopped (the partial file is
 * kept under the system's temp folder, by URL).
 */
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Effect, Schema } from "effect"
import { downloadFile } from "cairn/data"
import { defineStage } from "cairn"
import { HF_WEIGHTS_FILE, hubFileUrl, hubHeaders, parseHubRef } from "cairn/ml"

/** The weights file in the stage's output. */
export const PRETRAINED_FILE = HF_WEIGHTS_FILE

/** The param's value as a hub reference, when it is one (a file of that name wins). */
const hubRefOf = (value: string) => parseHubRef(value, (p) => fs.existsSync(p))

/** Where a download of `url` keeps its partial file between runs. */
const partialDownload = (url: string) => path.join(os.tmpdir(), "cairn-downloads", createHash("sha256").update(url).digest("hex").slice(0, 16), HF_WEIGHTS_FILE)

export const pretrainedWeights = defineStage({
  name: "pretrained-weights",
  description: "the weights training starts from: a file, a hub download, or none",
  params: Schema.Struct({
    /** "" (random init), a safetensors file, or a hub id such as `timm/resnet34d.ra2_in1k`. */
    pretrained: Schema.String,
  }),
  // A file is read in place: its content is in the key. A hub id is fetched by the stage: the
  // endpoint it uses is part of the key, the downloaded bytes are its output.
  reads: [(p) => (hubRefOf(p.pretrained) ? undefined : p.pretrained)],
  env: ["HF_ENDPOINT"],
  run: (ctx) =>
    Effect.gen(function* () {
      const given = ctx.params.pretrained
      const out = path.join(ctx.outDir, PRETRAINED_FILE)
      if (given === "") return { source: "random init" as const, weights: false }
      const ref = hubRefOf(given)
      if (!ref) {
        // Copied, never linked: the store must not share an inode with a file the user may edit.
        fs.copyFileSync(given, out)
        return { source: "file" as const, weights: true }
      }
      const url = hubFileUrl(ref)
      const partial = partialDownload(url)
      yield* ctx.log(`downloading ${url}`)
      yield* downloadFile(url, partial, {
        headers: hubHeaders(),
        hint: `to work offline, download it elsewhere and pass the file: --param pretrained=path/to/${HF_WEIGHTS_FILE}`,
        onProgress: (bytes, total) =>
          Effect.runSync(
            ctx.progress({
              ...(total ? { fraction: bytes / total } : {}),
              text: `${(bytes / 2 ** 20).toFixed(1)}${total ? ` / ${(total / 2 ** 20).toFixed(1)}` : ""} MiB of ${ref.repo}`,
            }),
          ),
      })
      // Copied (the temp folder may be another file system), then the download's copy removed.
      fs.copyFileSync(partial, out)
      fs.rmSync(partial, { force: true })
      return { source: "hub" as const, weights: true, repo: ref.repo, revision: ref.revision }
    }),
})
