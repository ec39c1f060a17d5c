// TLS through kafkajs, whose TLS is Node's (OpenSSL), against the broker's rustls: a CA and
// a server certificate for localhost and 127.0.0.1 made here with the openssl command. Over
// SSL a client trusting the CA (`ssl: { ca }`) produces and consumes, and one trusting only
// Node's default CAs refuses the broker; with `ssl.client.auth=required` a client presenting
// a certificate the CA signed produces and consumes as the principal its subject names, and
// one presenting none is refused; over SASL_SSL a SCRAM-SHA-256 user that `tidelog users set`
// made produces and consumes.
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

const CLIENT_SUBJECT = '/O=Tidelog/CN=kafkajs'
/** The principal Kafka's DEFAULT mapping makes of CLIENT_SUBJECT: the RFC 2253 name, last RDN first. */
const CLIENT_PRINCIPAL = 'User:CN=kafkajs,O=Tidelog'

const SCRAM_USER = { mechanism: 'scram-sha-256', username: 'carol', password: 'carol-Pa55word' }

let pki

/** A CA, a server key store (key, then certificate) signed by it, as PEM files, and a client
 * key and certificate it signed for CLIENT_SUBJECT. */
function makePki () {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'tidelog-node-pki-'))
  const file = name => path.join(directory, name)
  const newKey = ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1']
  execFileSync('openssl', [...newKey, '-subj', '/CN=tidelog-test', '-keyout', file('ca.key'), '-out', file('ca.pem'),
    '-addext', 'basicConstraints=critical,CA:TRUE'], { stdio: 'pipe' })
  const signed = (subject, name, ...extensions) => execFileSync('openssl', [...newKey, '-subj', subject,
    '-keyout', file(`${name}.key`), '-out', file(`${name}.pem`), '-CA', file('ca.pem'), '-CAkey', file('ca.key'),
    '-addext', 'basicConstraints=critical,CA:FALSE', ...extensions], { stdio: 'pipe' })
  signed('/CN=localhost', 'server', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1')
  signed(CLIENT_SUBJECT, 'client')
  const keystore = [file('server.key'), file('server.pem')].map(f => fs.readFileSync(f))
  fs.writeFileSync(file('keystore.pem'), Buffer.concat(keystore))
  return {
    directory,
    ca: fs.readFileSync(file('ca.pem')),
    truststore: file('ca.pem'),
    keystore: file('keystore.pem'),
    client: { cert: fs.readFileSync(file('client.pem')), key: fs.readFileSync(file('client.key')) }
  }
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

test('with ssl.client.auth=required a client with a certificate the CA signed is served as its subject, one without is refused', async () => {
  // The authorizer with no ACLs serves super users only: the certificate's principal must be the one named.
  const broker = await startBroker('SSL', 'listener.name.ssl.ssl.client.auth=required',
    'ssl.truststore.type=PEM', `ssl.truststore.location=${pki.truststore}`,
    'authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer', `super.users=${CLIENT_PRINCIPAL}`)
  let failed = true
  try {
    const ssl = broker.listener('SSL')
    await produceAndConsume(client(ssl, { ssl: { ca: [pki.ca], ...pki.client } }), 'mutual-tls', ['m', 'n'])

    const anonymous = client(ssl, { ssl: { ca: [pki.ca] } }).admin()
    await assert.rejects(anonymous.connect(), error => {
      // TLS 1.3: the client's handshake completes before the broker has checked it, so
      // Node learns of the refusal from the broker's alert (116, certificate_required).
      assert.match(error.message, /certificate required/, error.stack)
      return true
    })
    assert.match(await broker.waitForLine(/closing connection: TLS handshake failed/), /peer sent no certificates/)
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
