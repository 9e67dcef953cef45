// The addon, or the reason it is not there (thrown as an Error whose message says why).
"use strict"
const { existsSync, readFileSync } = require("node:fs")
const path = require("node:path")

const binary = path.join(__dirname, "build", "Release", "cairn_onednn.node")
const unavailable = path.join(__dirname, "build", "unavailable.txt")

function load() {
  if (existsSync(binary)) return require(binary)
  const reason = existsSync(unavailable) ? readFileSync(unavailable, "utf8").trim() : "not built (run: npm rebuild @cairn/onednn)"
  const error = new Error(reason)
  error.code = "CAIRN_ONEDNN_UNAVAILABLE"
  throw error
}

module.exports = load()
