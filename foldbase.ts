// prior baseline of folds 0/1 for the latest hms-quick run in a cache dir
import * as fs from "node:fs"; import * as path from "node:path"
import { Effect } from "effect"
import { readFoldArrow } from "/work/main/stages/hms/tables.ts"
const cache = process.argv[2]!
const hist = path.join(cache, "history", "hms-quick"); const last = fs.readdirSync(hist).sort().pop()!
const rep = JSON.parse(fs.readFileSync(path.join(hist, last), "utf8"))
const key = rep.stages.find((s: any) => s.id === "assign-folds").key
const rec = JSON.parse(fs.readFileSync(path.join(cache, "runs", key.slice(0,2), key + ".json"), "utf8"))
const t = await Effect.runPromise(readFoldArrow(path.join(cache, "trees", rec.output.tree, "folds.arrow")))
for (const k of [0,1,2,3,4]) {
  const m = [0,0,0,0,0,0]; let n = 0
  for (let i = 0; i < t.rows; i++) if (t.fold[i] !== k) { for (let c = 0; c < 6; c++) m[c]! += t.votes[i*6+c]!; n++ }
  let kl = 0, v = 0
  for (let i = 0; i < t.rows; i++) if (t.fold[i] === k) { v++; for (let c = 0; c < 6; c++) { const y = t.votes[i*6+c]!; if (y > 0) kl += y * Math.log(y / (m[c]!/n)) } }
  console.log(`fold ${k}: prior baseline ${(kl/v).toFixed(4)} (${v} rows)`)
}
for (const s of rep.stages) if (s.id.startsWith("train")) console.log(s.id, rep.metrics[s.id + ".best_val_loss"] ?? rep.metrics["best_val_loss"], s.seconds)
