import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { formatEpochLine, makeProgressDisplay, progressDisplay } from "../../src/ml/progress.js"
import type { EpochRecord, TrainProgress } from "../../src/ml/train.js"

class Sink {
  readonly chunks: Array<string> = []
  constructor(
    readonly isTTY: boolean,
    readonly columns = 120,
  ) {}
  write(chunk: string): boolean {
    this.chunks.push(chunk)
    return true
  }
  // cli-progress' terminal helpers
  cursorTo(): boolean {
    return true
  }
  moveCursor(): boolean {
    return true
  }
  clearLine(): boolean {
    return true
  }
  clearScreenDown(): boolean {
    return true
  }
  get text(): string {
    return this.chunks.join("")
  }
}

const record = (epoch: number, valLoss: number, improved: boolean): EpochRecord => ({
  epoch,
  trainLoss: 0.9 / epoch,
  valLoss,
  lr: 1e-3 / epoch,
  seconds: 12.345,
  imagesPerSecond: 101.25,
  improved,
})

/** Two folds interleaved, two epochs each. */
const events = (): Array<TrainProgress> => {
  const out: Array<TrainProgress> = []
  for (const fold of [0, 1]) out.push({ type: "start", fold, epochs: 2, stepsPerEpoch: 3, trainSize: 100, valSize: 20 })
  for (let epoch = 1; epoch <= 2; epoch++) {
    for (let step = 1; step <= 3; step++) {
      for (const fold of [0, 1]) {
        out.push({ type: "step", fold, epoch, step, stepsPerEpoch: 3, loss: 0.5, lr: 1e-3, imagesPerSecond: 80 })
      }
    }
    for (const fold of [0, 1]) {
      out.push({ type: "validate", fold, epoch })
      out.push({ type: "epoch", fold, record: record(epoch, 0.8 - epoch * 0.1 * (fold + 1), true), bestEpoch: epoch, bestValLoss: 0.7 })
    }
  }
  for (const fold of [0, 1]) out.push({ type: "done", fold, bestEpoch: 2, bestValLoss: 0.6, stoppedEarly: false })
  return out
}

describe("progress display", () => {
  it("formats an epoch line", () => {
    expect(formatEpochLine(3, 9, record(2, 0.745678, true), 2)).toBe(
      "[fold 3] epoch 2/9 train 0.450000 val 0.745678 lr 5.00e-4 101.3 img/s 12.3 s best",
    )
    expect(formatEpochLine(3, 9, record(4, 0.8, false), 2)).toContain("(best epoch 2)")
  })

  it("writes one plain line per epoch per fold when not on a TTY", () => {
    const sink = new Sink(false)
    const display = makeProgressDisplay(sink)
    for (const e of events()) display.update(e)
    display.fail(1, "boom")
    display.stop()
    const lines = sink.text.trimEnd().split("\n")
    expect(lines.filter((l) => / epoch \d\/2 /.test(l))).toHaveLength(4)
    expect(lines.filter((l) => l.startsWith("[fold 0] epoch"))).toHaveLength(2)
    expect(lines.filter((l) => l.includes("start:"))).toHaveLength(2)
    expect(lines.filter((l) => l.includes("done: best epoch 2"))).toHaveLength(2)
    expect(lines[lines.length - 1]).toBe("[fold 1] failed: boom")
    expect(sink.text).not.toContain("\u001b[")
  })

  it("draws one bar per fold on a TTY", async () => {
    const sink = new Sink(true)
    await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const display = yield* progressDisplay(sink)
          for (const e of events()) display.update(e)
        }),
      ),
    )
    const text = sink.text
    expect(text).toContain("fold 0 |")
    expect(text).toContain("fold 1 |")
    expect(text).toContain("epoch 2/2 step 3/3")
    // finished epochs are logged above the bars too
    expect(text).toContain("[fold 1] epoch 2/2")
  })
})
