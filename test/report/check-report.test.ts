/**
 * Opens a generated report in headless Chromium. Runs only where Chromium is installed
 * (`apt-get install -y --no-install-recommends chromium`; .ci/run installs it); elsewhere these
 * tests skip, except under CAIRN_REQUIRE_CHROMIUM=1 (set by .ci/run), where they run and so fail
 * without it.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { ChromiumCheckFailed, checkReport, DEFAULT_CHROMIUM } from "../../bench/check-report.js"
import { writeHmsReport } from "../../stages/hms/report/index.js"
import { fakeHmsReportData } from "./fake-hms.js"

const runChromium = existsSync(DEFAULT_CHROMIUM) || process.env["CAIRN_REQUIRE_CHROMIUM"] === "1"
const dir = mkdtempSync(join(tmpdir(), "cairn-check-report-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe("bench/check-report", () => {
  it.skipIf(!runChromium)("finds no console error, page error or failed request in the HMS report", async () => {
    const [page] = await writeHmsReport(fakeHmsReportData(), join(dir, "report"))
    const result = await checkReport(page!)
    expect(result.consoleErrors).toEqual([])
    expect(result.pageErrors).toEqual([])
    expect(result.failedRequests).toEqual([])
    expect(result.ok).toBe(true)
    expect(result.title).toBe("hms-resnet34d: run report")
    expect(result.svgCount).toBe(6)
    expect(result.requests).toEqual([`file://${page}`])
  })

  it.skipIf(!runChromium)("reports console errors, thrown errors, failed and blocked requests", async () => {
    const bad = join(dir, "bad.html")
    writeFileSync(
      bad,
      `<!DOCTYPE html><html><head><title>bad</title></head><body><img src="missing.png"><svg></svg><svg></svg>
<script>console.error("logged", 42); setTimeout(() => { throw new Error("boom") }, 0)</script></body></html>`,
    )
    const result = await checkReport(bad)
    expect(result.ok).toBe(false)
    expect(result.title).toBe("bad")
    expect(result.svgCount).toBe(2)
    expect(result.consoleErrors).toContain("console.error: logged 42")
    expect(result.pageErrors.some((e) => e.startsWith("Error: boom"))).toBe(true)
    expect(result.failedRequests).toEqual([`file://${join(dir, "missing.png")}: net::ERR_FILE_NOT_FOUND`])

    // Under the report's CSP, an external image is blocked (and logged), never fetched.
    const blocked = join(dir, "blocked.html")
    writeFileSync(
      blocked,
      `<!DOCTYPE html><html><head><meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:"><title>b</title></head><body><img src="http://192.0.2.1/x.png"></body></html>`,
    )
    const r2 = await checkReport(blocked)
    expect(r2.ok).toBe(false)
    expect(r2.failedRequests).toEqual(["http://192.0.2.1/x.png: csp"])
    expect(r2.consoleErrors.some((e) => e.startsWith("security: ") && e.includes("Content Security Policy"))).toBe(true)
  })

  it("fails with ChromiumCheckFailed when the browser is missing", async () => {
    const page = join(dir, "any.html")
    writeFileSync(page, "<!DOCTYPE html><title>x</title>")
    const e = await checkReport(page, { chromium: join(dir, "no-such-chromium") }).then(
      () => undefined,
      (err: unknown) => err,
    )
    expect(e).toBeInstanceOf(ChromiumCheckFailed)
    expect((e as ChromiumCheckFailed).message).toContain("Chromium is not installed")
  })
})
