/**
 * TF.js' backward pass, freeing memory as it goes. TF.js 4.22's `engine.gradients` holds every
 * tensor the forward pass saved, and every gradient it computes on the way back, until the whole
 * backward pass ends: a training step's peak is about the saved activations plus as much again in
 * their gradients (measured: resnet34d 512 px, 0.60 GiB per image, 19.7 GiB at the seed's batch 32,
 * more than a 16 GB card). Here the tape is walked in the same order with the same ops (the same
 * values, bit for bit), and once a node's gradient is taken its output gradients and its saved
 * tensors are released, so the peak is about the saved activations alone (bench/train-memory.ts).
 *
 * Installed on the engine by the backend resolver (`installFreeingBackward`); higher-order
 * gradients (a gradient taken inside another) keep TF.js' own pass.
 */
import * as tf from "@tensorflow/tfjs"

/** A node of TF.js' tape (engine internals, as of 4.22). */
interface TapeNode {
  readonly id: number
  readonly kernelName: string
  readonly inputs: Readonly<Record<string, tf.Tensor>>
  readonly outputs: ReadonlyArray<tf.Tensor>
  readonly saved?: ReadonlyArray<tf.Tensor>
  readonly gradient?: (dys: Array<tf.Tensor | null>) => Record<string, () => tf.Tensor>
}

type Gradients = (f: () => tf.Tensor, xs: Array<tf.Tensor>, dy?: tf.Tensor, allowNoGradients?: boolean) => { value: tf.Tensor; grads: Array<tf.Tensor> }

/** The parts of TF.js' engine the pass uses. */
interface EngineInternals {
  state: { activeTape: Array<TapeNode> | null; gradientDepth: number }
  scopedRun<T>(start: () => void, end: () => void, f: () => T): T
  startTape(): void
  endTape(): void
  tidy<T extends tf.TensorContainer>(nameOrFn: string | (() => T), fn?: () => T): T
  gradients: Gradients
}

/** Where the engine keeps TF.js' own pass once the freeing one is installed. */
const ORIGINAL = Symbol.for("cairn.tfjsGradients")

/** The nodes on a path from `xs` to `y`, their inputs cut to those that depend on `xs` (TF.js' filter, same result). */
export const nodesFromXsToY = (tape: ReadonlyArray<TapeNode>, xs: ReadonlyArray<tf.Tensor>, y: tf.Tensor): Array<TapeNode> => {
  const fromX = new Set(xs.map((x) => x.id))
  const nodesFromX = new Set<number>()
  for (const node of tape) {
    if (!Object.values(node.inputs).some((t) => fromX.has(t.id))) continue
    nodesFromX.add(node.id)
    for (const o of node.outputs) fromX.add(o.id)
  }
  const toY = new Set([y.id])
  const nodesToY = new Set<number>()
  for (let i = tape.length - 1; i >= 0; i--) {
    const node = tape[i]!
    if (!node.outputs.some((o) => toY.has(o.id))) continue
    nodesToY.add(node.id)
    for (const t of Object.values(node.inputs)) toY.add(t.id)
  }
  return tape
    .filter((n) => nodesFromX.has(n.id) && nodesToY.has(n.id))
    .map((n) => ({ ...n, inputs: Object.fromEntries(Object.entries(n.inputs).filter(([, t]) => fromX.has(t.id))) }))
}

/**
 * Walks `nodes` backward from `y`'s gradient, accumulating each input's gradient (summed in tape
 * order, as TF.js does) and releasing, after each node, its outputs' gradients and saved tensors.
 */
const backpropFreeing = (engine: EngineInternals, nodes: ReadonlyArray<TapeNode>, y: tf.Tensor, dy: tf.Tensor | undefined, keep: ReadonlySet<number>) => {
  const grads = new Map<number, tf.Tensor>()
  // How many entries of `grads` each tensor is: a gradient function may hand dy on as an input's gradient.
  const uses = new Map<tf.Tensor, number>()
  const set = (id: number, t: tf.Tensor) => {
    grads.set(id, t)
    uses.set(t, (uses.get(t) ?? 0) + 1)
  }
  /** The entry `id` is gone; its tensor is disposed when no other entry is it (never the caller's dy). */
  const drop = (id: number) => {
    const t = grads.get(id)
    if (t === undefined) return
    grads.delete(id)
    const left = (uses.get(t) ?? 1) - 1
    if (left > 0) uses.set(t, left)
    else {
      uses.delete(t)
      if (t !== dy) t.dispose()
    }
  }
  set(y.id, dy ?? tf.onesLike(y))
  for (let i = nodes.length - 1; i >= 0; i--) {
    const node = nodes[i]!
    if (node.gradient === undefined) throw new Error(`Cannot compute gradient: gradient function not found for ${node.kernelName}.`)
    const dys = node.outputs.map((o) => grads.get(o.id) ?? null)
    const inputGradients = node.gradient(dys)
    for (const [name, x] of Object.entries(node.inputs)) {
      const of = inputGradients[name]
      if (of === undefined) throw new Error(`Cannot backprop through input ${name}. Available gradients found: ${Object.keys(inputGradients)}.`)
      const dx = engine.tidy(of)
      if (dx.dtype !== "float32")
        throw new Error(`Error in gradient for op ${node.kernelName}. The gradient of input ${name} must have 'float32' dtype, but has '${dx.dtype}'`)
      if (!tf.util.arraysEqual(dx.shape, x.shape))
        throw new Error(
          `Error in gradient for op ${node.kernelName}. The gradient of input '${name}' has shape '${dx.shape}', which does not match the shape of the input '${x.shape}'`,
        )
      if (!grads.has(x.id)) {
        set(x.id, dx)
        continue
      }
      const sum = tf.add(grads.get(x.id)!, dx)
      drop(x.id)
      set(x.id, sum)
      // dx itself is no entry (unless it is another's, or a dy still to be dropped).
      if (!uses.has(dx) && !dys.includes(dx) && dx !== dy) dx.dispose()
    }
    // This node's outputs feed no node still to come: their gradients and its saved tensors go.
    for (const o of node.outputs) if (!keep.has(o.id)) drop(o.id)
    for (const t of node.saved ?? []) t.dispose()
  }
  return grads
}

/** Replaces the engine's `gradients` with the freeing pass (once per engine). */
export const installFreeingBackward = (): void => {
  const engine = tf.engine() as unknown as EngineInternals & { [ORIGINAL]?: Gradients }
  if (engine[ORIGINAL]) return
  const original: Gradients = engine.gradients.bind(engine)
  const gradients: Gradients = (f, xs, dy, allowNoGradients = false) => {
    // A gradient inside a gradient: the outer pass needs this tape intact.
    if (engine.state.gradientDepth > 0) return original(f, xs, dy, allowNoGradients)
    if (xs.length === 0) throw new Error("gradients() received an empty list of xs.")
    if (dy !== undefined && dy !== null && dy.dtype !== "float32") throw new Error(`dy must have 'float32' dtype, but has '${dy.dtype}'`)
    const y = engine.scopedRun(
      () => engine.startTape(),
      () => engine.endTape(),
      () => engine.tidy("forward", f),
    )
    if (!(y instanceof tf.Tensor)) throw new Error("The result y returned by f() must be a tensor.")
    const tape = engine.state.activeTape ?? []
    const nodes = nodesFromXsToY(tape, xs, y)
    if (!allowNoGradients && nodes.length === 0) {
      throw new Error("Cannot compute gradient of y=f(x) with respect to x. Make sure that the f you passed encloses all operations that lead from x to y.")
    }
    return engine.tidy("backward", () => {
      const grads = backpropFreeing(engine, nodes, y, dy ?? undefined, new Set(xs.map((x) => x.id)))
      for (const node of tape) for (const t of node.saved ?? []) t.dispose()
      engine.state.activeTape = null
      return { value: y, grads: xs.map((x) => grads.get(x.id)!) }
    })
  }
  engine.gradients = gradients
  engine[ORIGINAL] = original
}

/** TF.js' own backward pass (for comparing against it): `f`'s gradients with respect to `xs`. */
export const tfjsGradients = (f: () => tf.Tensor, xs: Array<tf.Tensor>): { value: tf.Tensor; grads: Array<tf.Tensor> } => {
  const engine = tf.engine() as unknown as EngineInternals & { [ORIGINAL]?: Gradients }
  return (engine[ORIGINAL] ?? engine.gradients.bind(engine))(f, xs, undefined, true)
}
