-- Retries exhausted (or a non-retryable answer): dead-letter the message, free its queue slot.
-- KEYS[5] queue hash, KEYS[6] queue wait list, KEYS[7] message hash, KEYS[8..] child hashes.
-- ARGV[3] consumer, ARGV[4] entry id, ARGV[5] message id, ARGV[6] last response,
-- ARGV[7] ERROR event extra, ARGV[8] DLQ retention ms, ARGV[9] public DLQ id suffix (the
-- partition, since stream ids repeat across partitions), ARGV[10..] children.
-- The message hash stays (with a TTL) because DLQ listings read it. Returns the public DLQ id.
local key, entry_id, message_id = KEYS[7], ARGV[4], ARGV[5]
local owner = owner_of(entry_id)
if owner == false then return 'gone' end
if owner ~= ARGV[3] then return 'stolen' end
ack(entry_id)
local h = event_header(key)
add_event(message_id, 'ERROR', h, ARGV[7])
if redis.call('HGET', key, 'state') == 'CANCEL_REQUESTED' then
  finish_cancelled(key, message_id, KEYS[5], KEYS[6])
  return 'cancelled'
end
release(key, KEYS[5], KEYS[6])
local dlq_id = redis.call('XADD', DLQ, '*', 'id', message_id) .. ARGV[9]
redis.call('HSET', key, 'state', 'FAILED', 'last', ARGV[6], 'dlq', dlq_id, 'queued', 0)
redis.call('PEXPIRE', key, ARGV[8])
add_event(message_id, 'FAILED', h, ARGV[7])
create_children(8, 10, dlq_id)
return dlq_id
