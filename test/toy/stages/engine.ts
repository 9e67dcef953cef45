import * as fs from "node:fs"
import * as path from "node:path"
import { Schema } from "effect"
import { BackendParam, type BackendRequest, ImgSize, type ModelConfig, npyWindow, tfjsEngine, type WindowDataset } from "cairn/ml"
import { TOY_CHANNELS, TOY_CLASSES, TOY_SIZE, oneHot } from "./patterns.js"
import { imageFile, LABELS_FILE, type Split } from "./toy-data.js"

export { BackendParam }

/** The engine the toy stages run on. */
export const toyEngine = (backend: BackendRequest) => tfjsEngine({ backend })

/** The toy model: a quarter-width resnet18d on the 16x16 three-channel images as they are. */
export const toyModel = (width: number): ModelConfig => ({
  variant: "resnet18d",
  inChans: TOY_CHANNELS,
  numClasses: TOY_CLASSES.length,
  width,
  imgSize: ImgSize.make(TOY_SIZE),
  transform: { kind: "resize" },
})

const Labels = Schema.parseJson(Schema.Array(Schema.Int))

/** A split's labels. */
export const readLabels = (dir: string, split: Split) => Schema.decodeUnknown(Labels)(fs.readFileSync(path.join(dir, split, LABELS_FILE), "utf8"))

/** Rows `rows` of a split as a dataset with one-hot targets. */
export const splitDataset = (dir: string, split: Split, labels: ReadonlyArray<number>, rows: ReadonlyArray<number>): WindowDataset => ({
  windows: rows.map((i) => npyWindow(imageFile(dir, split, i))),
  labels: oneHot(rows.map((i) => labels[i]!)),
  classes: TOY_CLASSES.length,
})

export const allRows = (n: number): ReadonlyArray<number> => Array.from({ length: n }, (_, i) => i)
