// Reading back what a test produced, with kafkajs: the first message a new consumer group
// gets from a topic.
'use strict'

// Safety net only.
const CONSUME_TIMEOUT_MS = 60_000

/** The first message group `groupId` reads from `topic`, from its beginning. */
async function firstMessage (kafka, topic, groupId) {
  const consumer = kafka.consumer({ groupId })
  await consumer.connect()
  await consumer.subscribe({ topic, fromBeginning: true })
  try {
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`nothing consumed from ${topic}`)), CONSUME_TIMEOUT_MS)
      consumer.run({
        eachMessage: async ({ message }) => {
          clearTimeout(timer)
          resolve(message)
        }
      })
    })
  } finally {
    await consumer.disconnect()
  }
}

module.exports = { firstMessage }
