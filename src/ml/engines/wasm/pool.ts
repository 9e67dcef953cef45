/**
 * Host kernels for the wasm backend besides convolutions.
 *
 * `MaxPoolGrad`: one pass over the windows, each routing dy to the first maximum of its window in
 * row-major order (the tie rule of TF.js' cpu kernel and of PyTorch). Padding never wins (it is
 * -inf), as in the forward op. TF.js' wasm kernel re-scans every window for every input pixel.
 */
import * as tf from "@tensorflow/tfjs"
import { withScope } from "./heap.js"

type KernelArgs = { inputs: tf.NamedTensorInfoMap; backend: {}; attrs?: tf.NamedAttrMap }

/** The pooling geometry of a `MaxPoolGrad` call (its forward's input `x` and attrs). */
export const poolGradInfo = (x: tf.TensorInfo, attrs: tf.NamedAttrMap): tf.backend_util.Conv2DInfo =>
  tf.backend_util.computePool2DInfo(
    x.shape as [number, number, number, number],
    attrs["filterSize"] as [number, number] | number,
    attrs["strides"] as [number, number] | number,
    1,
    attrs["pad"] as "valid" | "same" | number,
    attrs["dimRoundingMode"] as "floor" | "round" | "ceil" | undefined,
  )

function maxPoolGrad({ inputs, backend, attrs = {} }: KernelArgs): tf.TensorInfo {
  const dy = inputs["dy"]!
  const x = inputs["input"]!
  const info = poolGradInfo(x, attrs)
  const { batchSize: B, inHeight: H, inWidth: W, inChannels: C, outHeight: Ho, outWidth: Wo } = info
  const { strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw } = info
  const pt = info.padInfo.top
  const pl = info.padInfo.left
  return withScope(backend, (scope) => {
    const dx = scope.alloc([...x.shape])
    const xv = scope.view(x)
    const gv = scope.view(dy)
    const dv = scope.view(dx)
    dv.fill(0)
    const best = new Float32Array(C)
    const at = new Int32Array(C)
    let o = 0
    for (let b = 0; b < B; b++) {
      for (let oh = 0; oh < Ho; oh++) {
        const h0 = Math.max(0, oh * sh - pt)
        const h1 = Math.min(H, oh * sh - pt + kh)
        for (let ow = 0; ow < Wo; ow++) {
          const w0 = Math.max(0, ow * sw - pl)
          const w1 = Math.min(W, ow * sw - pl + kw)
          if (h1 <= h0 || w1 <= w0) {
            o += C // a window entirely in the padding has no input to route to
            continue
          }
          // The window's first pixel seeds the maxima; later pixels replace them only when larger.
          const first = ((b * H + h0) * W + w0) * C
          for (let c = 0; c < C; c++) {
            best[c] = xv[first + c]!
            at[c] = first + c
          }
          for (let ih = h0; ih < h1; ih++) {
            for (let iw = ih === h0 ? w0 + 1 : w0; iw < w1; iw++) {
              const base = ((b * H + ih) * W + iw) * C
              for (let c = 0; c < C; c++) {
                const v = xv[base + c]!
                if (v > best[c]!) {
                  best[c] = v
                  at[c] = base + c
                }
              }
            }
          }
          for (let c = 0; c < C; c++) {
            const k = at[c]!
            dv[k] = dv[k]! + gv[o + c]!
          }
          o += C
        }
      }
    }
    return scope.keep(dx)
  })
}

/**
 * `Identity` sharing the data (reference-counted) instead of copying it, as the cpu backend does.
 * TF.js clones through Identity every tensor it saves for the backward pass, so the wasm kernel's
 * copy doubled the memory of all saved activations and weights and cost a memcpy each. Sharing is
 * safe: no kernel writes into its inputs. Strings keep the original kernel.
 */
function identityShared(original: tf.KernelFunc) {
  return (args: KernelArgs): tf.TensorInfo | Array<tf.TensorInfo> => {
    const x = args.inputs["x"]!
    if (x.dtype === "string") return original(args)
    const backend = args.backend as { incRef(dataId: object): void }
    backend.incRef(x.dataId)
    return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype }
  }
}

export const POOL_KERNELS: ReadonlyArray<{ readonly name: string; readonly func: tf.KernelFunc }> = [
  { name: "MaxPoolGrad", func: maxPoolGrad as tf.KernelFunc },
]

/** Kernels built from the backend's original kernel of the same name. */
export const WRAPPED_KERNELS: ReadonlyArray<{ readonly name: string; readonly wrap: (original: tf.KernelFunc) => tf.KernelFunc }> = [
  { name: "Identity", wrap: (original) => identityShared(original) as tf.KernelFunc },
]
