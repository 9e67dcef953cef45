/**
 * `torch.optim.AdamW` (amsgrad off, not maximizing), as torch's single-tensor implementation
 * computes it, with TF.js ops so it runs on whatever backend holds the variables:
 *
 *     step += 1
 *     p    *= 1 - lr * weight_decay                       (decoupled decay, BEFORE the Adam update)
 *     m     = m + (1 - beta1) * (g - m)                   (exp_avg.lerp_(g, 1 - beta1))
 *     v     = v * beta2 + ((1 - beta2) * g) * g          (exp_avg_sq.mul_(beta2).addcmul_(g, g, 1 - beta2))
 *     step_size = lr / (1 - beta1 ** step)
 *     denom = sqrt(v) / sqrt(1 - beta2 ** step) + eps
 *     p    += ((-step_size) * m) / denom                  (param.addcdiv_(m, denom, -step_size))
 *
 * Scalars are computed in float64 like Python does and enter the float32 ops rounded to float32,
 * as torch's CPU kernels do with Python scalars. Weight decay applies to every parameter handed in
 * (as torch does with `model.parameters()`: no exclusions). `beta1` and `lr` are mutable so a
 * scheduler (OneCycleLR cycles beta1 too) can set them before each step; the bias correction uses
 * the CURRENT beta1, like torch. torch's vectorised kernels fuse the lerp into an FMA, so values
 * agree to float32 rounding (about 1e-7 relative), not bit for bit.
 *
 * Where the current backend has the `FUSED_ADAMW` kernel (the oneDNN kernels register it), one
 * kernel call per parameter replaces the ~14 element-wise ops: the same float32 ops in the same
 * order on the same float32-rounded scalars, so the same bits.
 */
import * as tf from "@tensorflow/tfjs"

/**
 * A kernel doing one step for one parameter: inputs {param, grad, expAvg, expAvgSq}, attrs
 * {scalars: the float32 scalars of `adamwScalars`}, outputs [param, expAvg, expAvgSq].
 */
export const FUSED_ADAMW = "CairnAdamW"

/** The scalars of one step, each rounded to float32 as `tf.scalar` rounds it, in the kernel's order. */
export function adamwScalars(h: AdamWHyper, step: number): Float32Array {
  const weight = 1 - h.beta1
  const stepSize = h.lr / (1 - h.beta1 ** step)
  const biasCorrection2Sqrt = (1 - h.beta2 ** step) ** 0.5
  return Float32Array.from([
    1 - h.lr * h.weightDecay,
    weight,
    Math.abs(weight) < LERP_SMALL_WEIGHT ? 1 : 0,
    1 - weight,
    h.beta2,
    1 - h.beta2,
    biasCorrection2Sqrt,
    h.eps,
    -stepSize,
  ])
}

export interface AdamWHyper {
  readonly lr: number
  readonly beta1: number
  readonly beta2: number
  readonly eps: number
  readonly weightDecay: number
}

/** torch.optim.AdamW's defaults. */
export const TORCH_ADAMW_DEFAULTS: AdamWHyper = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 1e-2 }

/** torch's lerp switches formula at |weight| = 0.5 for accuracy. */
const LERP_SMALL_WEIGHT = 0.5

interface ParamState {
  step: number
  readonly expAvg: tf.Variable
  readonly expAvgSq: tf.Variable
}

export class AdamW {
  lr: number
  beta1: number
  readonly beta2: number
  readonly eps: number
  readonly weightDecay: number
  private readonly states: Array<ParamState>

  constructor(
    readonly params: ReadonlyArray<tf.Variable>,
    hyper: Partial<AdamWHyper> = {},
  ) {
    const h = { ...TORCH_ADAMW_DEFAULTS, ...hyper }
    this.lr = h.lr
    this.beta1 = h.beta1
    this.beta2 = h.beta2
    this.eps = h.eps
    this.weightDecay = h.weightDecay
    this.states = params.map((p) => ({
      step: 0,
      expAvg: tf.variable(tf.zerosLike(p), false),
      expAvgSq: tf.variable(tf.zerosLike(p), false),
    }))
  }

  /** One update. `grads[i]` is the gradient of `params[i]`; undefined skips it (torch: grad is None). */
  step(grads: ReadonlyArray<tf.Tensor | undefined>): void {
    if (grads.length !== this.params.length) {
      throw new RangeError(`AdamW.step got ${grads.length} gradients for ${this.params.length} parameters`)
    }
    const { lr, beta1, beta2, eps, weightDecay } = this
    for (let i = 0; i < this.params.length; i++) {
      const g = grads[i]
      if (g === undefined) continue
      const p = this.params[i]!
      const state = this.states[i]!
      state.step += 1
      const step = state.step
      const biasCorrection1 = 1 - beta1 ** step
      const biasCorrection2 = 1 - beta2 ** step
      const stepSize = lr / biasCorrection1
      const biasCorrection2Sqrt = biasCorrection2 ** 0.5
      tf.tidy(() => {
        const grad = g.dtype === "float32" ? g : tf.cast(g, "float32")
        if (tf.getKernel(FUSED_ADAMW, tf.getBackend()) !== undefined) {
          const scalars = adamwScalars({ lr, beta1, beta2, eps, weightDecay }, step)
          const inputs = { param: p, grad, expAvg: state.expAvg, expAvgSq: state.expAvgSq }
          const [p1, m1, v1] = tf.engine().runKernel(FUSED_ADAMW, inputs, { scalars } as unknown as tf.NamedAttrMap) as Array<tf.Tensor>
          state.expAvg.assign(m1!)
          state.expAvgSq.assign(v1!)
          p.assign(p1!)
          return
        }
        const decayed = weightDecay !== 0 ? tf.mul(p, tf.scalar(1 - lr * weightDecay)) : p
        const m = state.expAvg
        const weight = 1 - beta1
        const m1 =
          Math.abs(weight) < LERP_SMALL_WEIGHT
            ? tf.add(m, tf.mul(tf.scalar(weight), tf.sub(grad, m)))
            : tf.sub(grad, tf.mul(tf.sub(grad, m), tf.scalar(1 - weight)))
        const v1 = tf.add(tf.mul(state.expAvgSq, tf.scalar(beta2)), tf.mul(tf.mul(tf.scalar(1 - beta2), grad), grad))
        const denom = tf.add(tf.div(tf.sqrt(v1), tf.scalar(biasCorrection2Sqrt)), tf.scalar(eps))
        const updated = tf.add(decayed, tf.div(tf.mul(tf.scalar(-stepSize), m1), denom))
        m.assign(m1)
        state.expAvgSq.assign(v1)
        p.assign(updated)
      })
    }
  }

  /** Per-parameter state, as torch's `optimizer.state[p]` (step, exp_avg, exp_avg_sq). */
  state(index: number): { readonly step: number; readonly expAvg: tf.Tensor; readonly expAvgSq: tf.Tensor } {
    const s = this.states[index]
    if (s === undefined) throw new RangeError(`AdamW has no parameter ${index}`)
    return { step: s.step, expAvg: s.expAvg, expAvgSq: s.expAvgSq }
  }

  /** Sets one parameter's state (a saved training continued): the same bits as the run that saved it. */
  restore(index: number, state: { readonly step: number; readonly expAvg: Float32Array; readonly expAvgSq: Float32Array }): void {
    const s = this.states[index]
    if (s === undefined) throw new RangeError(`AdamW has no parameter ${index}`)
    s.step = state.step
    tf.tidy(() => {
      s.expAvg.assign(tf.tensor(state.expAvg, s.expAvg.shape, "float32"))
      s.expAvgSq.assign(tf.tensor(state.expAvgSq, s.expAvgSq.shape, "float32"))
    })
  }

  dispose(): void {
    for (const s of this.states) {
      s.expAvg.dispose()
      s.expAvgSq.dispose()
    }
  }
}
