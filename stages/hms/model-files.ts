/**
 * How the HMS stages name model files in errors: a stage's working folder and the store's folders
 * mean nothing to the user, so a file there is named by the stage it belongs to
 * ("model.onnx (output of train/fold-0)").
 */
import * as path from "node:path"

/** A stage's file as the user knows it. */
export const stageFileName = (stageId: string, file: string): string => `${file} (output of ${stageId})`

/** `files` of a stage's folder `dir` (its working folder, or its result in the store), each mapped to its name for errors. */
export const stageFileNames = (stageId: string, dir: string, files: ReadonlyArray<string>): ReadonlyMap<string, string> =>
  new Map(files.map((f) => [path.join(dir, f), stageFileName(stageId, f)]))
