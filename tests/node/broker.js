// A real `tidelog serve` process for a test: the binary from $TIDELOG_BIN (scripts/test.sh
// builds it and sets it), a free loopback port, a temporary data directory. Its log is
// kept and printed only when the test fails, as the Python tests' conftest.py does.
'use strict'

const { execFileSync, spawn } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const readline = require('node:readline')

// Safety nets only: a healthy broker starts and stops in milliseconds.
const START_TIMEOUT_MS = 60_000
const STOP_TIMEOUT_MS = 60_000
const LINE_TIMEOUT_MS = 30_000
const EVENTUALLY_TIMEOUT_MS = 60_000

const LISTENING = /listening addr=(\S+)/

class Broker {
  /** Starts the broker and resolves once it logs the address it listens on. */
  static async start ({ listeners = 'PLAINTEXT://127.0.0.1:0', overrides = [] } = {}) {
    const binary = process.env.TIDELOG_BIN
    if (!binary) throw new Error('set TIDELOG_BIN to the tidelog binary (scripts/test.sh does)')
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tidelog-node-'))
    const broker = new Broker(binary, dataDir, listeners, overrides)
    await broker.#spawn()
    return broker
  }

  /** Formats a fresh data directory for the cluster `clusterId` with `tidelog format`,
   * then starts the broker on it: the nodes of one cluster share the cluster id, and each
   * one's start waits until the metadata quorum has a leader (start them together). */
  static async startFormatted ({ listeners, overrides = [], clusterId }) {
    const binary = process.env.TIDELOG_BIN
    if (!binary) throw new Error('set TIDELOG_BIN to the tidelog binary (scripts/test.sh does)')
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tidelog-node-'))
    const broker = new Broker(binary, dataDir, listeners, overrides)
    const [, ...serveArgs] = broker.command
    execFileSync(binary, ['format', '--cluster-id', clusterId, ...serveArgs.slice(1)], { stdio: 'pipe' })
    await broker.#spawn()
    return broker
  }

  /** `listeners`: NAME://host:port,...; the first one's address is `bootstrap`, the
   * others' `listener(NAME)`. `overrides`: key=value properties. */
  constructor (binary, dataDir, listeners, overrides) {
    // HTTP (metrics, health) off: these tests do not use it, and brokers run side by side.
    this.binary = binary
    this.command = [binary, 'serve', '--listeners', listeners, '--log-dirs', dataDir,
      '--override', 'http.listeners=', ...overrides.flatMap(o => ['--override', o])]
    this.dataDir = dataDir
    this.lines = []
    this.lineWaiters = []
  }

  #spawn () {
    const [binary, ...args] = this.command
    this.process = spawn(binary, args, {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, RUST_LOG: 'info' }
    })
    this.exited = new Promise(resolve => this.process.once('exit', code => resolve(code)))
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('tidelog did not start; log:\n' + this.log())), START_TIMEOUT_MS)
      readline.createInterface({ input: this.process.stderr }).on('line', line => {
        this.lines.push(line)
        this.lineWaiters = this.lineWaiters.filter(waiter => !waiter(line))
        const found = LISTENING.exec(line)
        if (found && !this.bootstrap) {
          this.bootstrap = found[1]
          clearTimeout(timer)
          resolve()
        }
      })
      this.exited.then(code => {
        clearTimeout(timer)
        reject(new Error(`tidelog exited (${code}) before listening; log:\n` + this.log()))
      })
    })
  }

  log () {
    return this.lines.join('\n')
  }

  /** Resolves with the first log line matching `pattern`, logged already or to come (a
   * broker logs what happened to a connection after its client has seen it). */
  waitForLine (pattern) {
    const logged = this.lines.find(line => pattern.test(line))
    if (logged) return Promise.resolve(logged)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no log line matches ${pattern}`)), LINE_TIMEOUT_MS)
      this.lineWaiters.push(line => {
        if (!pattern.test(line)) return false
        clearTimeout(timer)
        resolve(line)
        return true
      })
    })
  }

  /** The `host:port` of the listener `name`, from the listening line. */
  listener (name) {
    const line = this.lines.find(l => LISTENING.test(l))
    const listed = /listeners="?([^"\s]+)/.exec(line)[1]
    return listed.split(',').find(entry => entry.startsWith(name + '://')).slice(name.length + 3)
  }

  /** SIGTERM and wait: a graceful shutdown exits 0. */
  async stop () {
    if (this.process.exitCode !== null) return this.process.exitCode
    this.process.kill('SIGTERM')
    let timer
    const timeout = new Promise((resolve, reject) => {
      timer = setTimeout(() => {
        this.process.kill('SIGKILL')
        reject(new Error('tidelog did not stop'))
      }, STOP_TIMEOUT_MS)
    })
    try {
      return await Promise.race([this.exited, timeout])
    } finally {
      clearTimeout(timer)
    }
  }

  /** Stops the broker, prints its log if the test failed, and removes its data. */
  async close (testFailed) {
    const code = await this.stop()
    if (testFailed || code !== 0) console.log('---- tidelog log ----\n' + this.log())
    fs.rmSync(this.dataDir, { recursive: true, force: true })
    return code
  }
}

/** Polls `check` until it returns a truthy value, which it returns; fails after a minute (a
 * safety net only: a group settles in about the broker's initial rebalance delay, 3 s, and
 * a cluster is up within seconds). */
async function eventually (what, check) {
  const deadline = Date.now() + EVENTUALLY_TIMEOUT_MS
  while (Date.now() < deadline) {
    const found = await check()
    if (found) return found
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  throw new Error(`timed out waiting for ${what}`)
}

module.exports = { Broker, eventually }
