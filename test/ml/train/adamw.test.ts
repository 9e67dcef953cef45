import * as tf from "@tensorflow/tfjs"
import { Either } from "effect"
import { beforeAll, describe, expect, it } from "vitest"
import { AdamW } from "../../../src/ml/train/adamw.js"
import { OneCycleSchedule, oneCycleConfig } from "../../../src/ml/train/schedule.js"

// Golden values from test/golden/gen_optim.py: torch.optim.AdamW(lr=1e-2, weight_decay=1e-2) driven by
// OneCycleLR(max_lr=1e-2, epochs=1, steps_per_epoch=5, pct_start=0, div_factor=25, final_div_factor=0.4),
// which changes the lr AND beta1 at every step; fixed float32 gradients (one zero entry).
const P1 = [0.001230153371579945, 0.2987455427646637, -0.27413785457611084, -0.8905918598175049, -0.454670786857605, -0.9916465282440186]
const P2 = [0.0601436011493206, 1.3402152061462402, -0.49220651388168335, -0.6204748749732971]
const GRADS: ReadonlyArray<readonly [ReadonlyArray<number>, ReadonlyArray<number>]> = [
  [
    [0.04898420721292496, 0.03568870201706886, 0.010541425086557865, -0.09304680675268173, -0.0029251824598759413, 0.06953032314777374],
    [-1.3442145586013794, -0.45761576294898987, -1.9012227058410645, -1.289537787437439],
  ],
  [
    [-0.18417350947856903, -0.023509113118052483, -0.12674465775489807, 0.027126435190439224, 0.01567510887980461, -0.018693095073103905],
    [-2.5167596340179443, -0.5386928915977478, -0.048500943928956985, 0.11330898851156235],
  ],
  [
    [-0.15301357209682465, -0.047775328159332275, -0.09785190969705582, -0.08088372647762299, 0.10608986765146255, -0.08075346797704697],
    [-0.03252170607447624, 0.8843898773193359, -0.5836004614830017, -0.11170195043087006],
  ],
  [
    [0.011046414263546467, 0.0063781775534152985, -0.12250558286905289, 0.007614023517817259, 0.13588234782218933, -0.1547144651412964],
    [0.859382688999176, 0.11935402452945709, 0.0, 2.0004165172576904],
  ],
  [
    [0.07622597366571426, -0.11992888897657394, 0.00745162321254611, 0.057668961584568024, -0.018878212198615074, 0.06829103082418442],
    [-0.06651732325553894, 0.6672475337982178, 1.4385225772857666, -0.6756622791290283],
  ],
]
const STEPS = [
  {
    lr: 0.009140576474687266,
    beta1: 0.8595491502812526,
    p1: [-0.007910532876849174, 0.2895776331424713, -0.28325337171554565, -0.8813698887825012, -0.44548866152763367, -1.0006964206695557],
    p2: [0.06927867978811264, 1.3492332696914673, -0.48302093148231506, -0.6112775802612305],
    m2: [-0.18879607319831848, -0.06427252292633057, -0.2670283317565918, -0.18111668527126312],
    v2: [0.0018069129437208176, 0.00020941220282111317, 0.0036146477796137333, 0.0016629077726975083],
  },
  {
    lr: 0.006890576474687264,
    beta1: 0.8845491502812526,
    p1: [-0.004343833774328232, 0.28775522112846375, -0.2785431444644928, -0.8774136304855347, -0.4495193660259247, -1.0046594142913818],
    p2: [0.07645542174577713, 1.356683373451233, -0.47729185223579407, -0.6061438322067261],
    m2: [-0.4575614631175995, -0.11904475837945938, -0.24179916083812714, -0.1471249908208847],
    v2: [0.008139185607433319, 0.0004993928596377373, 0.003613385371863842, 0.0016740838764235377],
  },
  {
    lr: 0.004109423525312737,
    beta1: 0.9154508497187474,
    p1: [-0.0009877667762339115, 0.28891900181770325, -0.2746323347091675, -0.8738524317741394, -0.4524330794811249, -1.004365086555481],
    p2: [0.08097036927938461, 1.3575512170791626, -0.47311028838157654, -0.6027258038520813],
    m2: [-0.42162472009658813, -0.03420520946383476, -0.2706981599330902, -0.14413000643253326],
    v2: [0.008132104761898518, 0.0012810389744117856, 0.003950361628085375, 0.0016848871018737555],
  },
  {
    lr: 0.0018594235253127371,
    beta1: 0.9404508497187474,
    p1: [0.0007279296405613422, 0.28942763805389404, -0.27238211035728455, -0.8720484375953674, -0.4541768729686737, -1.0034371614456177],
    p2: [0.08294852823019028, 1.357901930809021, -0.4709145426750183, -0.6025970578193665],
    m2: [-0.34534183144569397, -0.02506088837981224, -0.2545783221721649, -0.016424085944890976],
    v2: [0.00886251125484705, 0.0012940033338963985, 0.003946411423385143, 0.005684868898242712],
  },
  {
    lr: 0.001,
    beta1: 0.95,
    p1: [0.0014816363109275699, 0.2899934649467468, -0.271163672208786, -0.8713504672050476, -0.45507675409317017, -1.0031250715255737],
    p2: [0.08404722809791565, 1.3578168153762817, -0.4702254831790924, -0.602394163608551],
    m2: [-0.331400603055954, 0.009554533287882805, -0.16992327570915222, -0.04938599839806557],
    v2: [0.008858073502779007, 0.0017379287164658308, 0.006011812016367912, 0.006135703530162573],
  },
]
const PLAIN = [
  [0.375, -1.3249999284744263, 1.899999976158142],
  [0.2597317695617676, -1.1587499380111694, 1.8049999475479126],
  [0.15094506740570068, -1.0008124113082886, 1.7147499322891235],
  [0.047356776893138885, -0.8507717847824097, 1.6290124654769897],
]

/** float32 agreement: torch fuses its lerp into an FMA, TF.js rounds each op. */
const expectClose = (actual: ArrayLike<number>, expected: ReadonlyArray<number>, rel = 5e-7): void => {
  expect(actual.length).toBe(expected.length)
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i]!
    expect(Math.abs(actual[i]! - e)).toBeLessThanOrEqual(rel * Math.max(Math.abs(e), 1e-3))
  }
}

beforeAll(async () => {
  await tf.setBackend("cpu")
})

describe("AdamW", () => {
  it("matches torch step by step under OneCycleLR (lr and beta1 change every step)", () => {
    const p1 = tf.variable(tf.tensor2d(P1, [3, 2]))
    const p2 = tf.variable(tf.tensor1d(P2))
    const schedule = Either.getOrThrow(
      OneCycleSchedule.make(oneCycleConfig({ maxLr: 1e-2, epochs: 1, stepsPerEpoch: 5 }, { pctStart: 0, divFactor: 25, finalDivFactor: 0.4 })),
    )
    const opt = new AdamW([p1, p2], { lr: 1e-2, weightDecay: 1e-2 })
    GRADS.forEach(([g1, g2], k) => {
      const at = schedule.at(k)
      opt.lr = at.lr
      opt.beta1 = at.beta1!
      const expected = STEPS[k]!
      expect(Math.abs(at.lr - expected.lr)).toBeLessThan(1e-17)
      expect(Math.abs(at.beta1! - expected.beta1)).toBeLessThan(1e-15)
      const t1 = tf.tensor2d(g1 as number[], [3, 2])
      const t2 = tf.tensor1d(g2 as number[])
      opt.step([t1, t2])
      t1.dispose()
      t2.dispose()
      expectClose(p1.dataSync(), expected.p1)
      expectClose(p2.dataSync(), expected.p2)
      expectClose(opt.state(1).expAvg.dataSync(), expected.m2)
      expectClose(opt.state(1).expAvgSq.dataSync(), expected.v2)
      expect(opt.state(0).step).toBe(k + 1)
    })
    opt.dispose()
    p1.dispose()
    p2.dispose()
  })

  it("matches torch with default betas, a large weight decay and a skipped parameter", () => {
    const q = tf.variable(tf.tensor1d([0.5, -1.5, 2.0]))
    const other = tf.variable(tf.tensor1d([1, 2]))
    const opt = new AdamW([q, other], { lr: 0.1, weightDecay: 0.5 })
    PLAIN.forEach((expected, k) => {
      const g = tf.tensor1d([0.3 * (k + 1), -0.2, 0.0])
      opt.step([g, undefined])
      g.dispose()
      expectClose(q.dataSync(), expected)
    })
    // no gradient: no decay, no step count (torch skips params whose grad is None)
    expect(Array.from(other.dataSync())).toEqual([1, 2])
    expect(opt.state(1).step).toBe(0)
    opt.dispose()
    q.dispose()
    other.dispose()
  })

  it("keeps no tensors alive beyond its state", () => {
    const p = tf.variable(tf.ones([4, 4]))
    const opt = new AdamW([p])
    const before = tf.memory().numTensors
    for (let i = 0; i < 3; i++) {
      const g = tf.fill([4, 4], 0.5)
      opt.step([g])
      g.dispose()
    }
    expect(tf.memory().numTensors).toBe(before)
    opt.dispose()
    p.dispose()
  })
})
