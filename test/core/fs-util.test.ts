import { describe, expect, it } from "vitest"
import { formatBytes, parseSize } from "../../src/core/fs-util.js"

// One byte formatter for the memory messages (whole MiB below a GiB, one decimal above) and the
// store's gc/verify lines (which used to print "512.0 MiB" through a second formatter).
describe("formatBytes", () => {
  it("writes whole units below a GiB and one decimal (dropped when 0) from a GiB on", () => {
    expect(formatBytes(0)).toBe("0 B")
    expect(formatBytes(512)).toBe("512 B")
    expect(formatBytes(12 * 1024 + 300)).toBe("12 KiB")
    expect(formatBytes(512 * 1024 ** 2)).toBe("512 MiB")
    expect(formatBytes(75.4 * 1024 ** 2)).toBe("75 MiB")
    expect(formatBytes(4 * 1024 ** 3)).toBe("4 GiB")
    expect(formatBytes(9.8 * 1024 ** 3)).toBe("9.8 GiB")
    expect(formatBytes(1.25 * 1024 ** 4)).toBe("1.3 TiB")
  })

  it("writes what parseSize reads as the same amount", () => {
    const pairs: ReadonlyArray<readonly [string, string]> = [
      ["512", "512 B"],
      ["12K", "12 KiB"],
      ["512M", "512 MiB"],
      ["4G", "4 GiB"],
      ["2T", "2 TiB"],
    ]
    for (const [text, shown] of pairs) expect(formatBytes(parseSize(text)!)).toBe(shown)
  })
})
