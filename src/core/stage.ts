import { fileURLToPath } from "node:url"
import type { Effect, Layer, Schema, Scope } from "effect"
import type { Json } from "./canonical.js"
import type { FileError } from "./errors.js"

/** The engine record's field that is shown at the start of a run and never hashed into a key. */
export const ENGINE_NOTICE = "notice"

/** A stage's output as seen by the stages that consume it. */
export interface Artifact<V> {
  /** Id of the producing stage instance, e.g. `train/fold-0`. */
  readonly id: string
  /** Directory holding the artifact's files. Read-only: it lives in the content-addressed store. */
  readonly dir: string
  /** The small JSON value the stage returned. */
  readonly value: V
  /** Content hash of the artifact (its files and value): what consumers' cache keys depend on. */
  readonly hash: string
  /** Cache key of the run that produced it (a source's key is its content hash). */
  readonly key: string
}

/** Progress of a long stage, for the terminal display. */
export interface ProgressEvent {
  /** 0..1 when known. */
  readonly fraction?: number
  /** One short line: "epoch 2/9 step 40/120 loss 0.812 31.2 img/s". */
  readonly text: string
  /** Optional sub-task label (a stage running several things at once). */
  readonly task?: string
}

/** One item of a stage-internal cache (see `StageContext.memo`). */
export interface MemoSpec {
  /** Names the item within the stage, e.g. the id of the input file it comes from. */
  readonly name: string
  /** Everything besides the stage's code that determines the item's result (file hashes, params used). */
  readonly key: Json
}

/** How a stage that works in steps counts them (`StageDefinition.steps`): "epoch", 9. */
export interface StepPlan {
  readonly unit: string
  readonly total: number
}

/** Progress saved after a step: what a stage continues from. Its files are read-only and hash-checked. */
export interface SavedSteps {
  readonly step: number
  readonly value: Json
  /** File name → path of its content in the store (read it, never write it). */
  readonly files: Readonly<Record<string, string>>
}

/**
 * The progress records of a stage that works in steps, under its key (see `StageDefinition.steps`).
 * The finished result must not depend on whether the run resumed: save everything the remaining
 * steps read (weights, optimizer state, counters, what is kept of earlier steps).
 */
export interface StepsContext extends StepPlan {
  /**
   * The newest progress record of this key whose files all check, or undefined (none, `--no-resume`);
   * one that is damaged is skipped with a line saying so. Says `resumed from <unit> K` when it finds one.
   */
  readonly resume: Effect.Effect<SavedSteps | undefined, FileError>
  /** A new empty folder to write one record's files into (flat: plain files only). */
  readonly newFolder: Effect.Effect<string, FileError>
  /** Saves the state after `step` (the files of `dir`, moved into the store, and `value`); older records go. */
  readonly save: (step: number, dir: string, value: Json) => Effect.Effect<void, FileError>
}

/** What a stage's `run` receives. */
export interface StageContext<P, I extends InputSpecs> {
  readonly id: string
  readonly params: P
  readonly inputs: InputArtifacts<I>
  /** Write the artifact's files here; it becomes the content-addressed output on success. */
  readonly outDir: string
  /** Engine identity fields resolved for this run (`engine` hook), e.g. `{ backend: "wasm" }`. */
  readonly engine: Readonly<Record<string, string>>
  readonly log: (message: string) => Effect.Effect<void>
  readonly progress: (event: ProgressEvent) => Effect.Effect<void>
  /** Numbers (or short strings) for reports; stored with the output and hashed with it. */
  readonly metrics: (values: Readonly<Record<string, Json>>) => Effect.Effect<void>
  /**
   * A cache inside the stage: `compute` writes the item's files into the directory it is given and
   * returns a JSON value; the result is stored under a key made of the stage's code, engine and
   * `spec.key`, so a rerun recomputes only the items whose key changed (one file of a folder, say).
   */
  readonly memo: <A extends Json, E, R>(
    spec: MemoSpec,
    compute: (dir: string) => Effect.Effect<A, E, R>,
  ) => Effect.Effect<{ readonly dir: string; readonly value: A; readonly cached: boolean }, E | FileError, R>
  /**
   * Places a file from the store (an input artifact's or a memo item's) into `outDir` at `rel`
   * by hard link: no copy, and the commit knows its hash without reading it.
   */
  readonly linkFile: (storeFile: string, rel: string) => Effect.Effect<void, FileError>
  /** Content hash of a data file, remembered by (path, size, mtime, inode): for memo keys. */
  readonly hashFile: (file: string) => Effect.Effect<string, FileError>
  /** Saved progress, for an instance whose stage declares `steps` (undefined otherwise). */
  readonly steps: StepsContext | undefined
}

export type AnyStage = Stage<string, any, any, any>
/** A stage of any params and inputs whose output value is a `V`: what a consumer that reads only its value accepts. */
export type StageOf<V> = Stage<string, any, any, V>

/** Consumes every fan-out instance of a stage, in fan-out order. */
export interface AllOf<S extends AnyStage> {
  readonly _tag: "AllOf"
  readonly stage: S
}

/** A named placeholder for a stage that a pipeline binds (a dataset that differs per pipeline, say). */
export interface Slot<V> {
  readonly _tag: "Slot"
  readonly name: string
  /** Phantom: the value type a bound stage must produce. */
  readonly _value?: V
}

/**
 * An input the stage needs for some of its params only (`when(pretrainedWeights, (p) => p.checkpoints === "")`):
 * an instance whose params make `needed` false is not wired to it (its `ctx.inputs` entry is
 * undefined, its key has no such input), and a stage that no planned instance needs is not planned.
 */
export interface When<S extends AnyStage | AllOf<AnyStage> | Slot<any>> {
  readonly _tag: "When"
  readonly input: S
  readonly needed: (params: any) => boolean
}

export type InputSpec = AnyStage | AllOf<AnyStage> | Slot<any> | When<AnyStage | AllOf<AnyStage> | Slot<any>>
export type InputSpecs = Readonly<Record<string, InputSpec>>

export type OutputOf<S> = S extends Stage<string, any, any, infer V> ? V : S extends Slot<infer V> ? V : never

/** What one input spec gives the stage: one artifact, or every instance's for `allOf`. */
type ArtifactsOf<S> = S extends AllOf<infer T> ? ReadonlyArray<Artifact<OutputOf<T>>> : Artifact<OutputOf<S>>

export type InputArtifacts<I extends InputSpecs> = {
  readonly [K in keyof I]: I[K] extends When<infer S> ? ArtifactsOf<S> | undefined : ArtifactsOf<I[K]>
}

/**
 * A file or folder a stage reads besides its inputs: the name of one of its params whose value is
 * the path ("" = nothing), a path relative to the project root, or a function of the params giving
 * paths (undefined or "" = nothing).
 */
export type ReadSpec<P> = string | ((params: P) => string | ReadonlyArray<string> | undefined)

/**
 * What one instance of a stage holds while it runs, declared from its params (the `resources`
 * hook): the runner admits instances under its memory budget by it, beside `--jobs`.
 */
export interface StageResources {
  /** Peak bytes of the machine's memory the instance holds while it runs (absent: no need declared). */
  readonly memoryBytes?: number
  /** What the figure is of, for the plan line and errors: e.g. "resnet34d 512px batch 32". */
  readonly subject?: string
}

export interface StageDefinition<Name extends string, P, I extends InputSpecs, V, E, R> {
  readonly name: Name
  /** Bump to invalidate every cached result of this stage by hand. */
  readonly version?: number
  readonly description?: string
  /** Effect Schema of the params (a `Schema.Struct`); only declared params reach the stage and its key. */
  readonly params: Schema.Schema<P, any, never>
  readonly inputs?: I
  /**
   * Extra engine identity for the key, resolved before the key is computed (e.g. the TF.js backend).
   * It must depend only on the params, the `env` it declares, the installed packages and the paths
   * in `engineInputs`: those are what the no-op fast path checks before replaying a run. Files whose
   * content matters belong in `reads`. Its `ENGINE_NOTICE` field, if any, is not part of the key: a
   * line `cairn run` shows at start (e.g. why a faster engine is unavailable).
   */
  readonly engine?: (params: P) => Effect.Effect<Readonly<Record<string, string>>, unknown>
  /**
   * Paths the `engine` hook inspects, e.g. a driver's device list: the fast path replays a run only
   * while they are unchanged. A stage with an `engine` hook and no `engineInputs` (not even `[]`)
   * makes its pipelines ineligible for the fast path.
   */
  readonly engineInputs?: ReadonlyArray<string>
  /** Environment variables the stage reads: their values are part of its key. */
  readonly env?: ReadonlyArray<string>
  /**
   * Files and folders the stage reads besides its inputs (a checkpoint named by a param, say): their
   * content is part of its key, and they must not change while it runs.
   */
  readonly reads?: ReadonlyArray<ReadSpec<P>>
  /**
   * What an instance needs to run, from its params, asked at plan time before anything runs. Failing
   * refuses the run (exit 2): say why the params cannot run here and the way out (a configuration
   * that cannot fit its engine, say). Like `engine`, it must be cheap and must not load a model.
   */
  readonly resources?: (params: P) => Effect.Effect<StageResources, unknown>
  /**
   * The stage works in steps (epochs) and saves its state after each (`ctx.steps`), so a run that
   * is killed continues from the last step saved rather than from the start. Undefined for params
   * that do not work in steps. The key is unchanged by it: a resumed result must be bit for bit an
   * uninterrupted one.
   */
  readonly steps?: (params: P) => StepPlan | undefined
  /** Services the stage's `run` needs. */
  readonly layer?: Layer.Layer<R, unknown, never>
  readonly run: (ctx: StageContext<P, I>) => Effect.Effect<V, E, R | Scope.Scope>
  /** The module defining the stage (default: the file that called `defineStage`). */
  readonly module?: string
  /** Outputs are not cached (still run once per `cairn run`): for stages with side effects only. */
  readonly cache?: boolean
}

export interface Stage<Name extends string, P, I extends InputSpecs, V> {
  readonly _tag: "Stage"
  readonly name: Name
  readonly version: number
  readonly description: string
  readonly params: Schema.Schema<P, any, never>
  readonly inputs: I
  readonly engine: ((params: P) => Effect.Effect<Readonly<Record<string, string>>, unknown>) | undefined
  readonly engineInputs: ReadonlyArray<string> | undefined
  readonly env: ReadonlyArray<string>
  readonly reads: ReadonlyArray<ReadSpec<P>>
  readonly resources: ((params: P) => Effect.Effect<StageResources, unknown>) | undefined
  readonly steps: ((params: P) => StepPlan | undefined) | undefined
  readonly layer: Layer.Layer<any, unknown, never> | undefined
  readonly run: (ctx: StageContext<P, I>) => Effect.Effect<V, unknown, any>
  /** Absolute path of the module that defined the stage (the caller of `defineStage`, or `module`). */
  readonly module: string
  /**
   * Every project module on the call stack when the stage was defined (the caller of `defineStage`,
   * a factory in between, the module calling the factory): the code closure starts from all of them,
   * so the file holding the `run` code is in it wherever `defineStage` itself was called.
   */
  readonly definedIn: ReadonlyArray<string>
  /** A source reads a directory in place: no run, its artifact hash is the directory's content hash. */
  readonly source: { readonly param: string; readonly include: ReadonlyArray<string> | undefined } | undefined
  readonly cache: boolean
  /** Phantom: the output value type. */
  readonly _value?: V
}

/** A stack line's location when it is a file: "at f (/abs/x.ts:1:2)", "at file:///abs/x.ts:1:2". */
const STACK_FILE = /(?:\(|^at )((?:file:\/\/)?\/[^():]+):\d+:\d+\)?$/

/**
 * The files of the synchronous call stack, innermost first, without node's internals, packages and
 * the files in `skip` (tsx and vitest keep .ts paths). Frames of awaiting callers ("at async ...")
 * are left out: whether they appear depends on how the runtime loads modules.
 */
export const callerFiles = (skip: ReadonlyArray<string>): ReadonlyArray<string> => {
  const limit = Error.stackTraceLimit
  Error.stackTraceLimit = 200
  const stack = new Error().stack ?? ""
  Error.stackTraceLimit = limit
  const out: Array<string> = []
  for (const line of stack.split("\n").slice(1)) {
    const text = line.trim()
    if (text.startsWith("at async ")) continue
    const m = STACK_FILE.exec(text)
    if (!m) continue
    const file = m[1]!.startsWith("file://") ? fileURLToPath(m[1]!) : m[1]!
    if (file.includes("/node_modules/") || skip.some((s) => file.endsWith(s)) || out.includes(file)) continue
    out.push(file)
  }
  return out
}

/** The file that called the function calling this one. */
export const callerFile = (skip: ReadonlyArray<string>): string | undefined => callerFiles(skip)[0]

const toPath = (module: string): string => (module.startsWith("file:") ? fileURLToPath(module) : module)

const SELF = ["/src/core/stage.ts", "/src/core/stage.js"]

/**
 * Defines a cached stage. The stage's code closure is found from the module that calls this
 * (or `module`), so editing any project file it imports invalidates it.
 */
export const defineStage = <const Name extends string, P, const I extends InputSpecs = {}, V = void, E = never, R = never>(
  def: StageDefinition<Name, P, I, V, E, R>,
): Stage<Name, P, I, V> => {
  const frames = callerFiles(SELF)
  const module = def.module !== undefined ? toPath(def.module) : frames[0]
  if (module === undefined) throw new Error(`defineStage(${def.name}): cannot find the defining module; pass \`module: import.meta.url\``)
  if (!/^[a-z0-9][a-z0-9-]*$/.test(def.name)) {
    throw new Error(`defineStage: stage name "${def.name}" must be kebab-case ([a-z0-9-])`)
  }
  return {
    _tag: "Stage",
    name: def.name,
    version: def.version ?? 1,
    description: def.description ?? "",
    params: def.params,
    inputs: (def.inputs ?? {}) as I,
    engine: def.engine,
    engineInputs: def.engineInputs,
    env: def.env ?? [],
    reads: def.reads ?? [],
    resources: def.resources,
    steps: def.steps,
    layer: def.layer,
    run: def.run as Stage<Name, P, I, V>["run"],
    module,
    definedIn: [...new Set([module, ...frames])],
    source: undefined,
    cache: def.cache ?? true,
  }
}

/** The value of a source artifact. */
export interface SourceValue {
  readonly path: string
}

/**
 * A directory of input data read in place (a Kaggle download, say), named by a string param.
 * It is never copied: its artifact hash is the content hash of its files, remembered by
 * (path, size, mtime, inode) so an unchanged folder is only stat-ed.
 */
export const defineSource = <const Name extends string, const Param extends string>(def: {
  readonly name: Name
  readonly param: Param
  readonly params: Schema.Schema<{ readonly [K in Param]: string }, any, never>
  readonly description?: string
  /** Only these paths under the directory are part of the source (and hashed); default: everything. */
  readonly include?: ReadonlyArray<string>
}): Stage<Name, { readonly [K in Param]: string }, {}, SourceValue> => {
  const frames = callerFiles(SELF)
  const module = frames[0] ?? "<source>"
  return {
    _tag: "Stage",
    name: def.name,
    version: 1,
    description: def.description ?? `files under --param ${def.param}=DIR`,
    params: def.params,
    inputs: {},
    engine: undefined,
    engineInputs: [],
    env: [],
    reads: [],
    resources: undefined,
    steps: undefined,
    layer: undefined,
    run: () => {
      throw new Error(`source ${def.name} is not run`)
    },
    module,
    definedIn: frames,
    source: { param: def.param, include: def.include },
    cache: true,
  }
}

/** Every fan-out instance of `stage`, as an input. */
export const allOf = <S extends AnyStage>(stage: S): AllOf<S> => ({ _tag: "AllOf", stage })

/** `input`, needed only by the instances whose params make `needed` true (see `When`). */
export const when = <S extends AnyStage | AllOf<AnyStage> | Slot<any>, P>(input: S, needed: (params: P) => boolean): When<S> => ({
  _tag: "When",
  input,
  needed,
})

/** A placeholder input bound by each pipeline (`bind` in `definePipeline`). */
export const slot = <V>(name: string): Slot<V> => ({ _tag: "Slot", name })
