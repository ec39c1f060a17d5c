// Reading back what a test produced, with kafkajs: the first messages a new consumer group
// gets from a topic.
'use strict'

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

module.exports = { firstMessage, firstMessages }
