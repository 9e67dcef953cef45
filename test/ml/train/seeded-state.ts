/**
 * The deterministic ResNet-D state_dict that the PyTorch generators draw (test/golden/resnet_d.py's
 * `fill`): entry i from numpy's RandomState(weightSeed + i), scaled by its kind, in PyTorch layout.
 * Redrawn here bit for bit, so that a golden fixture never has to carry the weights.
 */
import { RandomState } from "../../../src/data/random-state.js"
import type { SafetensorsInput } from "../../../src/ml/model/safetensors.js"
import type { ResNetVariant } from "../../../src/ml/model/resnet.js"
import { RESNET_GOLDEN } from "../model/resnet-golden.js"

/** `fill`'s scale for one entry: He by fan-in for convs, 1/sqrt(fan_in) for fc, near 1 for BN scales. */
const scaled = (name: string, dims: ReadonlyArray<number>, z: Float64Array): Float64Array => {
  if (dims.length === 4) return z.map((x) => x * Math.sqrt(2 / (dims[1]! * dims[2]! * dims[3]!)))
  if (name === "fc.weight") return z.map((x) => x * Math.sqrt(1 / dims[1]!))
  if (name.endsWith("running_var")) return z.map((x) => 1 + 0.1 * Math.abs(x))
  if (name.endsWith(".weight")) return z.map((x) => 1 + 0.1 * x)
  return z.map((x) => 0.1 * x)
}

/** Every state_dict entry of timm's `variant` (6 classes, 1 input channel), as `fill` draws it; counters 0. */
export const seededState = (variant: ResNetVariant, weightSeed: number): Array<SafetensorsInput> =>
  RESNET_GOLDEN.layouts[variant].map((entry, i): SafetensorsInput => {
    const [name, kind, dims] = entry as unknown as readonly [string, string, ReadonlyArray<number>] // the generator's [name, kind, shape]
    if (kind === "counter") return { name, dtype: "I64", shape: dims, data: BigInt64Array.of(0n) }
    const n = dims.reduce((a, b) => a * b, 1)
    const rs = new RandomState(weightSeed + i)
    const z = new Float64Array(n)
    for (let k = 0; k < n; k++) z[k] = rs.standardNormal()
    return { name, dtype: "F32", shape: dims, data: Float32Array.from(scaled(name, dims, z)) }
  })
