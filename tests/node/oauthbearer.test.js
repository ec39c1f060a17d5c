// SASL/OAUTHBEARER through kafkajs's oauthBearerProvider, a third OAUTHBEARER client beside
// kafka-python's and the raw frames of crates/tidelog/tests/oauthbearer.rs: with unsecured
// tokens (Kafka's default validator) a client is the token's `sub`: alice, whose ACLs
// allow it, produces and consumes in a group; mallory, whose token is as good, is refused
// the topic; an expired token gets no connection, and nothing of a token reaches the log.
'use strict'

const assert = require('node:assert/strict')
const { test } = require('node:test')
const {
  AclOperationTypes, AclPermissionTypes, AclResourceTypes, Kafka, Partitioners, ResourcePatternTypes, logLevel
} = require('kafkajs')
const { Broker } = require('./broker')
const { firstMessage } = require('./consume')

function b64url (text) {
  return Buffer.from(text).toString('base64url')
}

/** An unsecured JWS (`alg: none`, empty signature) for `sub`, living `lifeS` seconds. */
function unsecuredToken (sub, lifeS = 600) {
  const now = Math.floor(Date.now() / 1000)
  return `${b64url(JSON.stringify({ alg: 'none' }))}.${b64url(JSON.stringify({ sub, iat: now, exp: now + lifeS }))}.`
}

function client (broker, token) {
  return new Kafka({
    clientId: 'tidelog-node-oauthbearer',
    brokers: [broker.bootstrap],
    sasl: { mechanism: 'oauthbearer', oauthBearerProvider: async () => ({ value: token }) },
    logLevel: logLevel.NOTHING,
    retry: { retries: 0 }
  })
}

function allow (resourceType, resourceName, operation) {
  return {
    resourceType,
    resourceName,
    resourcePatternType: ResourcePatternTypes.LITERAL,
    principal: 'User:alice',
    host: '*',
    operation,
    permissionType: AclPermissionTypes.ALLOW
  }
}

test('an unsecured token is its sub, whose ACLs hold; an expired one is refused', async t => {
  const broker = await Broker.start({
    listeners: 'SASL_PLAINTEXT://127.0.0.1:0',
    overrides: [
      'sasl.enabled.mechanisms=OAUTHBEARER',
      'authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer',
      'super.users=User:admin'
    ]
  })
  let failed = true
  try {
    const admin = client(broker, unsecuredToken('admin')).admin()
    await admin.connect()
    await admin.createTopics({ topics: [{ topic: 'orders', numPartitions: 1 }] })
    await admin.createAcls({
      acl: [
        allow(AclResourceTypes.TOPIC, 'orders', AclOperationTypes.WRITE),
        allow(AclResourceTypes.TOPIC, 'orders', AclOperationTypes.READ),
        allow(AclResourceTypes.GROUP, 'alice-group', AclOperationTypes.READ)
      ]
    })
    await admin.disconnect()

    const alice = client(broker, unsecuredToken('alice'))
    const producer = alice.producer({ createPartitioner: Partitioners.DefaultPartitioner })
    await producer.connect()
    const [sent] = await producer.send({ topic: 'orders', messages: [{ key: 'k', value: 'from alice' }] })
    await producer.disconnect()
    assert.equal(sent.errorCode, 0)
    const read = await firstMessage(alice, 'orders', 'alice-group')
    assert.deepEqual([read.offset, read.key.toString(), read.value.toString()], ['0', 'k', 'from alice'])

    const mallory = client(broker, unsecuredToken('mallory')).producer({ createPartitioner: Partitioners.DefaultPartitioner })
    await mallory.connect()
    const refused = await mallory.send({ topic: 'orders', messages: [{ value: 'x' }] }).then(
      () => { throw new Error('mallory wrote to orders') },
      error => error)
    await mallory.disconnect()
    assert.match(refused.message, /Topic authorization failed/, refused.stack)

    // kafkajs takes the broker's challenge for success; its next request closes the connection.
    const expired = unsecuredToken('alice', -60)
    const late = client(broker, expired).admin()
    const error = await late.connect().then(() => late.listTopics()).then(
      () => { throw new Error('an expired token was let in') },
      error => error)
    await late.disconnect()
    assert.match(error.name, /^KafkaJS/, error.stack)
    // The broker goes on serving alice.
    await producer.connect()
    const [again] = await producer.send({ topic: 'orders', messages: [{ key: 'k', value: 'again' }] })
    await producer.disconnect()
    assert.equal(again.baseOffset, '1')
    const log = broker.log()
    for (const token of [expired, unsecuredToken('alice')]) assert.ok(!log.includes(token.split('.')[1]), log)
    failed = false
  } finally {
    assert.equal(await broker.close(failed), 0)
  }
})
