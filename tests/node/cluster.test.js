// kafkajs on a cluster of three `tidelog serve` processes, each a broker and a voter of the
// metadata quorum (issue 12): its admin client creates a topic through the controller
// Metadata names, the topic's 12 partitions are led four by each broker, an idempotent
// producer writes to every partition (each batch to its leader, producer ids from whichever
// node it asked), and a consumer group reads every record back through its coordinator and
// commits.
'use strict'

const assert = require('node:assert/strict')
const net = require('node:net')
const { test } = require('node:test')
const { Kafka, Partitioners, logLevel } = require('kafkajs')
const { Broker, eventually } = require('./broker')

const CLUSTER_ID = 'n3Wq3Wq3Wq3Wq3Wq3Wq3Ww'
const TOPIC = 'spread'
const GROUP = 'node-cluster-group'
const PARTITIONS = 12
const RECORDS = 10

/** `count` free loopback ports for the controller listeners (bound, then let go). */
async function freePorts (count) {
  const servers = await Promise.all(Array.from({ length: count }, () => new Promise(resolve => {
    const server = net.createServer()
    server.listen(0, '127.0.0.1', () => resolve(server))
  })))
  const ports = servers.map(s => s.address().port)
  await Promise.all(servers.map(s => new Promise(resolve => s.close(resolve))))
  return ports
}

async function startCluster () {
  const ports = await freePorts(3)
  const voters = ports.map((port, i) => `${i + 1}@127.0.0.1:${port}`).join(',')
  return Promise.all(ports.map((port, i) => Broker.startFormatted({
    clusterId: CLUSTER_ID,
    listeners: `PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:${port}`,
    overrides: [
      'process.roles=broker,controller',
      `node.id=${i + 1}`,
      'controller.listener.names=CONTROLLER',
      'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
      `controller.quorum.voters=${voters}`
    ]
  })))
}

test('kafkajs produces to and consumes from a topic spread over three brokers', async t => {
  const nodes = await startCluster()
  let failed = true
  const kafka = new Kafka({ clientId: 'tidelog-node-cluster', brokers: nodes.map(n => n.bootstrap), logLevel: logLevel.NOTHING })
  const admin = kafka.admin()
  const producer = kafka.producer({ idempotent: true, createPartitioner: Partitioners.DefaultPartitioner })
  const consumer = kafka.consumer({ groupId: GROUP, sessionTimeout: 10_000, heartbeatInterval: 300 })
  try {
    await admin.connect()
    // Every broker registers and is listed once it has caught up.
    await eventually('three brokers', async () => {
      const { brokers } = await admin.describeCluster()
      return brokers.map(b => b.nodeId).sort().join(',') === '1,2,3'
    })
    assert.equal(await admin.createTopics({ topics: [{ topic: TOPIC, numPartitions: PARTITIONS, replicationFactor: 1 }], waitForLeaders: true }), true)
    const leaders = await eventually('every partition led', async () => {
      const { topics: [topic] } = await admin.fetchTopicMetadata({ topics: [TOPIC] })
      const led = topic.partitions.map(p => p.leader)
      return led.length === PARTITIONS && led.every(l => l > 0) && led
    })
    assert.deepEqual([1, 2, 3].map(b => leaders.filter(l => l === b).length), [4, 4, 4])

    await producer.connect()
    const sent = []
    for (let p = 0; p < PARTITIONS; p++) {
      const messages = Array.from({ length: RECORDS }, (_, i) => ({ key: `p${p}-k${i}`, value: `p${p}-v${i}`, partition: p }))
      sent.push(...await producer.send({ topic: TOPIC, messages, acks: -1 }))
    }
    assert.deepEqual(sent.map(r => [r.partition, r.baseOffset]), Array.from({ length: PARTITIONS }, (_, p) => [p, '0']))

    const consumed = new Map()
    await consumer.connect()
    await consumer.subscribe({ topic: TOPIC, fromBeginning: true })
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        consumed.set(`${partition}:${message.offset}`, `${message.key}=${message.value}`)
      }
    })
    await eventually('every record consumed', () => consumed.size === PARTITIONS * RECORDS)
    const expected = new Map()
    for (let p = 0; p < PARTITIONS; p++) {
      for (let i = 0; i < RECORDS; i++) expected.set(`${p}:${i}`, `p${p}-k${i}=p${p}-v${i}`)
    }
    assert.deepEqual(consumed, expected)
    // kafkajs commits after each batch: the group's offsets reach every partition's end.
    await eventually('the offsets committed', async () => {
      const [committed] = await admin.fetchOffsets({ groupId: GROUP, topics: [TOPIC] })
      return committed.partitions.every(p => p.offset === String(RECORDS))
    })
    failed = false
  } finally {
    await consumer.disconnect()
    await producer.disconnect()
    await admin.disconnect()
    for (const node of nodes) await node.close(failed)
  }
})
