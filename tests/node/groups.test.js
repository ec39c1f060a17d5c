// Consumer groups through kafkajs, a pure-JavaScript client and so a third implementation
// of the group protocol beside librdkafka and kafka-python: three members share a topic's
// partitions and consume every record exactly once with commits, the admin client
// describes their assignments, and when one leaves its partitions move to the others,
// which resume exactly at its commits.
'use strict'

const assert = require('node:assert/strict')
const { test } = require('node:test')
const { Kafka, AssignerProtocol, Partitioners, logLevel } = require('kafkajs')
const { Broker, eventually } = require('./broker')

const TOPIC = 'orders'
const GROUP = 'node-group'
const PARTITIONS = 6
const RECORDS_PER_ROUND = 300

/** Produces keyed records `first..first + count`; kafkajs's default partitioner spreads the
 * keys over the partitions (murmur2, as the Java client). */
async function produce (producer, first, count) {
  const messages = []
  for (let i = first; i < first + count; i++) messages.push({ key: `key-${i}`, value: String(i) })
  await producer.send({ topic: TOPIC, messages })
}

/** A group member that records every record it is given and commits after each batch
 * (kafkajs's default with neither an interval nor a threshold for auto-commit). */
async function startMember (kafka, name, consumed) {
  const consumer = kafka.consumer({ groupId: GROUP, sessionTimeout: 10_000, heartbeatInterval: 300 })
  const member = { name, consumer, joins: [] }
  consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => member.joins.push(payload))
  await consumer.connect()
  await consumer.subscribe({ topic: TOPIC, fromBeginning: true })
  await consumer.run({
    eachMessage: async ({ partition, message }) => {
      consumed.push({ member: name, partition, offset: Number(message.offset), key: message.key.toString(), value: Number(message.value.toString()) })
    }
  })
  return member
}

/** The group as DescribeGroups shows it, once it is Stable with exactly the `members`'
 * latest joins, every partition assigned once: member id -> sorted partitions. */
async function settledAssignments (admin, members) {
  return eventually(`the group to settle with ${members.length} members`, async () => {
    const { groups: [group] } = await admin.describeGroups([GROUP])
    if (group.state !== 'Stable' || group.members.length !== members.length) return null
    const described = new Map()
    for (const { memberId, memberAssignment } of group.members) {
      const { assignment } = AssignerProtocol.MemberAssignment.decode(memberAssignment)
      described.set(memberId, [...(assignment[TOPIC] || [])].sort((a, b) => a - b))
    }
    // Each live member's own view (its latest join) must agree with the broker's.
    for (const { joins } of members) {
      const latest = joins[joins.length - 1]
      if (!latest || !described.has(latest.memberId)) return null
      const own = [...(latest.memberAssignment[TOPIC] || [])].sort((a, b) => a - b)
      if (own.join() !== described.get(latest.memberId).join()) return null
    }
    const all = [...described.values()].flat().sort((a, b) => a - b)
    if (all.join() !== [...Array(PARTITIONS).keys()].join()) return null
    return described
  })
}

/** Asserts that `records` hold each value of `first..first + count` exactly once. */
function assertEachOnce (records, first, count) {
  const values = records.map(r => r.value).sort((a, b) => a - b)
  const expected = Array.from({ length: count }, (_, i) => first + i)
  assert.deepEqual(values, expected)
  for (const r of records) assert.equal(r.key, `key-${r.value}`)
}

/** Waits until the group's committed offset of every partition is its end offset (the
 * last batch's commit may land just after its records are handed over). */
async function committedAtEnd (admin) {
  const offsets = async () => {
    const ends = await admin.fetchTopicOffsets(TOPIC)
    const [{ partitions }] = await admin.fetchOffsets({ groupId: GROUP, topics: [TOPIC] })
    const committed = new Map(partitions.map(p => [p.partition, p.offset]))
    return ends.map(({ partition, high }) => ({ partition, committed: committed.get(partition), end: high }))
  }
  await eventually('commits at the end offsets', async () => (await offsets()).every(p => p.committed === p.end))
  for (const { partition, committed, end } of await offsets()) {
    assert.equal(committed, end, `committed offset of partition ${partition}`)
    assert.ok(Number(end) > 0)
  }
}

test('three kafkajs consumers share a topic, consume each record once, and take over a leaver\'s partitions at its commits', { timeout: 240_000 }, async t => {
  const broker = await Broker.start()
  // kafkajs's log is kept, and shown with the broker's only if the test fails.
  const clientLog = []
  const logCreator = () => ({ namespace, level, log: { message, ...extra } }) => clientLog.push(`${namespace} ${message} ${JSON.stringify(extra)}`)
  const kafka = new Kafka({ clientId: 'tidelog-node-e2e', brokers: [broker.bootstrap], logLevel: logLevel.INFO, logCreator })
  const admin = kafka.admin()
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner })
  const members = []
  let failed = true
  t.after(async () => {
    for (const { consumer } of members) await consumer.disconnect().catch(() => {})
    await producer.disconnect().catch(() => {})
    await admin.disconnect().catch(() => {})
    if (failed) console.log('---- kafkajs log ----\n' + clientLog.join('\n'))
    await broker.close(failed)
  })

  await admin.connect()
  assert.equal(await admin.createTopics({ topics: [{ topic: TOPIC, numPartitions: PARTITIONS }], waitForLeaders: true }), true)
  await producer.connect()

  // Three members join; records are produced once they all hold partitions, so no
  // rebalance interrupts the first round.
  const consumed = []
  for (const name of ['a', 'b', 'c']) members.push(await startMember(kafka, name, consumed))
  const first = await settledAssignments(admin, members)
  for (const partitions of first.values()) assert.equal(partitions.length, PARTITIONS / 3)

  await produce(producer, 0, RECORDS_PER_ROUND)
  await eventually('every record of the first round', () => consumed.length >= RECORDS_PER_ROUND)
  // Each member read only its own partitions, in offset order.
  for (const { name, joins } of members) {
    const mine = new Set(joins[joins.length - 1].memberAssignment[TOPIC])
    for (const r of consumed.filter(r => r.member === name)) assert.ok(mine.has(r.partition), `${name} read partition ${r.partition}`)
  }
  await committedAtEnd(admin)
  assertEachOnce(consumed, 0, RECORDS_PER_ROUND)

  // One member leaves (LeaveGroup): the other two take its partitions over.
  const leaver = members.shift()
  const leaverPartitions = first.get(leaver.joins[leaver.joins.length - 1].memberId)
  await leaver.consumer.disconnect()
  const second = await settledAssignments(admin, members)
  for (const partitions of second.values()) assert.equal(partitions.length, PARTITIONS / 2)
  assert.ok(!second.has(leaver.joins[leaver.joins.length - 1].memberId))

  // The second round goes to the remaining two; the leaver's partitions resume exactly at
  // its commits, so nothing of the first round is read again.
  consumed.length = 0
  await produce(producer, RECORDS_PER_ROUND, RECORDS_PER_ROUND)
  await eventually('every record of the second round', () => consumed.length >= RECORDS_PER_ROUND)
  await committedAtEnd(admin)
  assertEachOnce(consumed, RECORDS_PER_ROUND, RECORDS_PER_ROUND)
  assert.ok(consumed.some(r => leaverPartitions.includes(r.partition)), 'records on the leaver\'s partitions')
  failed = false
})
