// Reading back what a test produced, with kafkajs: the first messages a new consumer group
// gets from a topic, and a new topic's round trip.
'use strict'

const assert = require('node:assert/strict')
const { Partitioners } = require('kafkajs')

// Safety net only.
const CONSUME_TIMEOUT_MS = 60_000

/** The first `count` messages group `groupId` reads from `topic`, from its beginning. */
async function firstMessages (kafka, topic, groupId, count) {
  const consumer = kafka.consumer({ groupId })
  await consumer.connect()
  await consumer.subscribe({ topic, fromBeginning: true })
  try {
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`fewer than ${count} messages consumed from ${topic}`)),
        CONSUME_TIMEOUT_MS)
      const read = []
      consumer.run({
        eachMessage: async ({ message }) => {
          read.push(message)
          if (read.length === count) {
            clearTimeout(timer)
            resolve(read)
          }
        }
      })
    })
  } finally {
    await consumer.disconnect()
  }
}

/** The first message group `groupId` reads from `topic`, from its beginning. */
async function firstMessage (kafka, topic, groupId) {
  return (await firstMessages(kafka, topic, groupId, 1))[0]
}

/** Sends `values` to partition 0 of a new `topic` and checks that a new group reads them
 * back from its beginning, at offsets 0, 1, ... */
async function produceAndConsume (kafka, topic, values) {
  const admin = kafka.admin()
  await admin.connect()
  await admin.createTopics({ topics: [{ topic, numPartitions: 1 }] })
  await admin.disconnect()
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner })
  await producer.connect()
  const [sent] = await producer.send({ topic, messages: values.map(value => ({ value, partition: 0 })) })
  await producer.disconnect()
  assert.equal(sent.baseOffset, '0')
  const received = await firstMessages(kafka, topic, `${topic}-group`, values.length)
  assert.deepEqual(received.map(m => `${m.offset}:${m.value}`), values.map((value, offset) => `${offset}:${value}`))
}

module.exports = { firstMessage, produceAndConsume }
