// SASL/SCRAM-SHA-256 and -512 through kafkajs, a third SCRAM implementation beside
// kafka-python's and the project's own: `tidelog users set` gives two users credentials
// over the PLAINTEXT listener; on the SASL_PLAINTEXT listener, which offers only SCRAM,
// each produces and consumes; a wrong password and an unknown user are refused with
// Kafka's error while the others go on, and no password reaches the log.
'use strict'

const assert = require('node:assert/strict')
const { execFileSync } = require('node:child_process')
const { test } = require('node:test')
const { Kafka, logLevel } = require('kafkajs')
const { Broker } = require('./broker')
const { produceAndConsume } = require('./consume')

const USERS = [
  { username: 'alice', password: 'alice-Pa55word', mechanism: 'scram-sha-256', name: 'SCRAM-SHA-256' },
  { username: 'bob', password: 'bob-Pa55word', mechanism: 'scram-sha-512', name: 'SCRAM-SHA-512' }
]

function client (broker, sasl) {
  return new Kafka({
    clientId: 'tidelog-node-scram',
    brokers: [broker.listener('SASL_PLAINTEXT')],
    sasl,
    logLevel: logLevel.NOTHING,
    retry: { retries: 0 }
  })
}

async function refusal (kafka) {
  const admin = kafka.admin()
  try {
    await admin.connect()
  } catch (error) {
    return error
  }
  await admin.disconnect()
  throw new Error('the broker let the client in')
}

test('SCRAM users produce and consume, and wrong passwords and unknown users are refused', async t => {
  const broker = await Broker.start({
    listeners: 'PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0',
    overrides: ['listener.name.sasl_plaintext.sasl.enabled.mechanisms=SCRAM-SHA-256,SCRAM-SHA-512']
  })
  let failed = true
  try {
    for (const user of USERS) {
      execFileSync(broker.binary, ['users', 'set', user.username, '--mechanism', user.name,
        '--bootstrap-server', broker.bootstrap], { input: user.password + '\n' })
    }
    for (const { username, password, mechanism } of USERS) {
      const kafka = client(broker, { mechanism, username, password })
      await produceAndConsume(kafka, `${username}-topic`, [`from ${username}`])
    }
    for (const sasl of [
      { mechanism: 'scram-sha-256', username: 'alice', password: 'guess' },
      { mechanism: 'scram-sha-512', username: 'mallory', password: 'guess' }
    ]) {
      const error = await refusal(client(broker, sasl))
      assert.equal(error.name, 'KafkaJSSASLAuthenticationError', error.stack)
      const mechanism = sasl.mechanism.toUpperCase()
      assert.match(error.message,
        new RegExp(`Authentication failed during authentication due to invalid credentials with SASL mechanism ${mechanism}`))
    }
    // The broker still serves the users it knows.
    await produceAndConsume(client(broker, USERS[1]), 'after-refusals', ['still served'])
    const log = broker.log()
    for (const secret of ['alice-Pa55word', 'bob-Pa55word', 'guess']) assert.ok(!log.includes(secret), secret)
    failed = false
  } finally {
    assert.equal(await broker.close(failed), 0)
  }
})
