import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { logLevel, type LogEntry } from 'kafkajs';
import { isTransientKafkaLog, isUpgradeNotice } from '../../../src/adapters/kafka/client.js';

function entry(level: logLevel, error?: string): LogEntry {
  return { namespace: 'Connection', level, label: 'ERROR', log: { timestamp: '', message: 'Response GroupCoordinator', ...(error ? { error } : {}) } };
}

describe('kafka client logging', () => {
  it('treats the start-up coordinator race as transient, other errors not', () => {
    assert.equal(isTransientKafkaLog(entry(logLevel.ERROR, 'The group coordinator is not available')), true);
    assert.equal(isTransientKafkaLog(entry(logLevel.ERROR, 'There is no leader for this topic-partition as we are in the middle of a leadership election')), true);
    assert.equal(isTransientKafkaLog(entry(logLevel.ERROR, 'SASL authentication failed')), false);
    assert.equal(isTransientKafkaLog(entry(logLevel.ERROR)), false);
  });

  it('shows kafkajs\'s v2 partitioner upgrade notice at DEBUG (noise in every start-up log), other warnings not', () => {
    const warn = (message: string): LogEntry => ({ namespace: '', level: logLevel.WARN, label: 'WARN', log: { timestamp: '', message } });
    assert.equal(isUpgradeNotice(warn('KafkaJS v2.0.0 switched default partitioner. To retain the same partitioning behavior ...')), true);
    assert.equal(isUpgradeNotice(warn('Consumer group rebalancing')), false);
    assert.equal(isUpgradeNotice({ ...warn('KafkaJS v2.0.0 switched default partitioner.'), level: logLevel.ERROR }), false);
  });
});
