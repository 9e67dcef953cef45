/**
 * Crash points for tests: with `CAIRN_FAILPOINT=<name>` (or `<name>@<n>` for its n-th hit) the
 * process kills itself with SIGKILL when it reaches that point, exactly as `kill -9` would, so
 * tests can show that the store survives a crash at each step of a commit, a gc or a verify.
 * Unset, a failpoint costs one environment lookup.
 */
const hits = new Map<string, number>()

export const failpoint = (name: string): void => {
  const want = process.env.CAIRN_FAILPOINT
  if (want === undefined) return
  const [point, nth] = want.split("@")
  if (point !== name) return
  const count = (hits.get(name) ?? 0) + 1
  hits.set(name, count)
  if (count >= Number(nth ?? 1)) process.kill(process.pid, "SIGKILL")
}
