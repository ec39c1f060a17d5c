// TLS through kafkajs, whose TLS is Node's (OpenSSL), against the broker's rustls: a CA and
// a server certificate for localhost and 127.0.0.1 made here with the openssl command. Over
// SSL a client trusting the CA (`ssl: { ca }`) produces and consumes, and one trusting only
// Node's default CAs refuses the broker; over SASL_SSL a SCRAM-SHA-256 user that
// `tidelog users set` made produces and consumes.
'use strict'

const assert = require('node:assert/strict')
const { execFileSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { after, before, test } = require('node:test')
const { Kafka, logLevel } = require('kafkajs')
const { Broker } = require('./broker')
const { produceAndConsume } = require('./consume')

const SCRAM_USER = { mechanism: 'scram-sha-256', username: 'carol', password: 'carol-Pa55word' }

let pki

/** A CA and a server key store (key, then certificate) signed by it, as PEM files. */
function makePki () {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'tidelog-node-pki-'))
  const file = name => path.join(directory, name)
  const newKey = ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1']
  execFileSync('openssl', [...newKey, '-subj', '/CN=tidelog-test', '-keyout', file('ca.key'), '-out', file('ca.pem'),
    '-addext', 'basicConstraints=critical,CA:TRUE'], { stdio: 'pipe' })
  execFileSync('openssl', [...newKey, '-subj', '/CN=localhost', '-keyout', file('server.key'),
    '-out', file('server.pem'), '-CA', file('ca.pem'), '-CAkey', file('ca.key'),
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-addext', 'basicConstraints=critical,CA:FALSE'],
  { stdio: 'pipe' })
  const keystore = [file('server.key'), file('server.pem')].map(f => fs.readFileSync(f))
  fs.writeFileSync(file('keystore.pem'), Buffer.concat(keystore))
  return { directory, ca: fs.readFileSync(file('ca.pem')), keystore: file('keystore.pem') }
}

before(() => { pki = makePki() })
after(() => fs.rmSync(pki.directory, { recursive: true, force: true }))

function startBroker (listener, ...overrides) {
  return Broker.start({
    listeners: `PLAINTEXT://127.0.0.1:0,${listener}://127.0.0.1:0`,
    overrides: ['ssl.keystore.type=PEM', `ssl.keystore.location=${pki.keystore}`, ...overrides]
  })
}

function client (address, settings) {
  return new Kafka({
    clientId: 'tidelog-node-tls',
    brokers: [address],
    logLevel: logLevel.NOTHING,
    retry: { retries: 0 },
    ...settings
  })
}

test('over SSL a client trusting the CA produces and consumes, one that does not refuses the broker', async () => {
  const broker = await startBroker('SSL')
  let failed = true
  try {
    const ssl = broker.listener('SSL')
    await produceAndConsume(client(ssl, { ssl: { ca: [pki.ca] } }), 'over-tls', ['a', 'b', 'c'])

    const untrusting = client(ssl, { ssl: true }).admin()
    await assert.rejects(untrusting.connect(), error => {
      // Node's (OpenSSL's) verdict on a server certificate of an unknown CA.
      assert.match(error.message, /Connection error: unable to verify the first certificate/, error.stack)
      return true
    })
    failed = false
  } finally {
    assert.equal(await broker.close(failed), 0)
  }
})

test('over SASL_SSL a SCRAM-SHA-256 user produces and consumes', async () => {
  const broker = await startBroker('SASL_SSL', 'listener.name.sasl_ssl.sasl.enabled.mechanisms=SCRAM-SHA-256')
  let failed = true
  try {
    execFileSync(broker.binary, ['users', 'set', SCRAM_USER.username, '--mechanism', 'SCRAM-SHA-256',
      '--bootstrap-server', broker.bootstrap], { input: SCRAM_USER.password + '\n' })
    const kafka = client(broker.listener('SASL_SSL'), { ssl: { ca: [pki.ca] }, sasl: SCRAM_USER })
    await produceAndConsume(kafka, 'scram-over-tls', ['x', 'y'])
    assert.ok(!broker.log().includes(SCRAM_USER.password))
    failed = false
  } finally {
    assert.equal(await broker.close(failed), 0)
  }
})
