/**
 * How the HMS stages name model files in errors: a stage's working folder and the store's folders
 * mean nothing to the user, so a file there is named by the stage it belongs to
 * ("model.onnx (output of train/fold-0)"); and where a fold's given model is in `--param checkpoints=DIR`.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { Data, Either } from "effect"
import { checkpointFileName } from "cairn/ml"

/** A stage's file as the user knows it. */
export const stageFileName = (stageId: string, file: string): string => `${file} (output of ${stageId})`

/** `files` of a stage's folder `dir` (its working folder, or its result in the store), each mapped to its name for errors. */
export const stageFileNames = (stageId: string, dir: string, files: ReadonlyArray<string>): ReadonlyMap<string, string> =>
  new Map(files.map((f) => [path.join(dir, f), stageFileName(stageId, f)]))

/** The seed's own name for a fold's model: its training notebook's `torch.save(model.state_dict(), f"best_model_fold{k}.pth")`. */
export const torchCheckpointFileName = (fold: number): string => `best_model_fold${fold}.pth`

/** The names a fold's model may have in `--param checkpoints=DIR`: cairn's safetensors, or the seed's `.pth`. */
export const givenCheckpointNames = (fold: number): ReadonlyArray<string> => [checkpointFileName(fold), torchCheckpointFileName(fold)]

/**
 * The fold's files in DIR, for a stage's `reads`: those of its names that are there, or, when none
 * is, the safetensors name (a missing read: the run says so before anything runs).
 */
export const givenCheckpointReads = (dir: string, fold: number): ReadonlyArray<string> => {
  const present = givenCheckpointNames(fold)
    .map((name) => path.join(dir, name))
    .filter((file) => fs.existsSync(file))
  return present.length > 0 ? present : [path.join(dir, checkpointFileName(fold))]
}

/** Two models for one fold in `--param checkpoints=DIR`: which one was meant is not guessed. */
export class GivenCheckpointAmbiguous extends Data.TaggedError("GivenCheckpointAmbiguous")<{
  readonly fold: number
  readonly files: ReadonlyArray<string>
}> {
  override get message(): string {
    return `--param checkpoints: fold ${this.fold} has ${this.files.join(" and ")}: keep the one to use (move the other out of the folder)`
  }
}

/** The fold's model in DIR (safetensors or `.pth`); both being there is an error. */
export const givenCheckpoint = (dir: string, fold: number): Either.Either<string, GivenCheckpointAmbiguous> => {
  const files = givenCheckpointReads(dir, fold)
  return files.length === 1 ? Either.right(files[0]!) : Either.left(new GivenCheckpointAmbiguous({ fold, files }))
}
