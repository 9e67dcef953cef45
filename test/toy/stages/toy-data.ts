import * as fs from "node:fs"
import * as path from "node:path"
import { Effect, Schema } from "effect"
import { writeNpy } from "cairn/data"
import { defineStage } from "cairn"
import { TOY_CHANNELS, TOY_CLASSES, TOY_SIZE, toyImages } from "./patterns.js"

/** The split folders and the labels file of each. */
export const SPLITS = ["train", "test"] as const
export type Split = (typeof SPLITS)[number]
export const LABELS_FILE = "labels.json"

/** `<dir>/<split>/<i>.npy` for the i-th image of a split. */
export const imageFile = (dir: string, split: Split, i: number) => path.join(dir, split, `${i}.npy`)

/** Generated data: `train/` and `test/` folders of `(C, H, W)` .npy images and their labels. */
export const toyData = defineStage({
  name: "toy-data",
  description: "stripe images, three orientations",
  params: Schema.Struct({
    samples: Schema.Int.pipe(Schema.positive()),
    test_samples: Schema.Int.pipe(Schema.positive()),
    data_seed: Schema.Int.pipe(Schema.nonNegative()),
  }),
  run: (ctx) =>
    Effect.gen(function* () {
      const p = ctx.params
      const counts: Record<Split, number> = { train: p.samples, test: p.test_samples }
      for (const [s, split] of SPLITS.entries()) {
        const images = toyImages(counts[split], p.data_seed + s)
        fs.mkdirSync(path.join(ctx.outDir, split))
        yield* Effect.forEach(images.entries(), ([i, image]) => writeNpy(imageFile(ctx.outDir, split, i), image.data, [TOY_CHANNELS, TOY_SIZE, TOY_SIZE]))
        fs.writeFileSync(path.join(ctx.outDir, split, LABELS_FILE), JSON.stringify(images.map((image) => image.label)))
      }
      return { classes: [...TOY_CLASSES], train: p.samples, test: p.test_samples }
    }),
})
