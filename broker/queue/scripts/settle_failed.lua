-- Retries exhausted (or a non-retryable answer): dead-letter the message, free its gate slot.
-- KEYS: gate wait message messages...
-- ARGV: consumer entry_id message_id last_response extra retention_ms dlq_suffix messages...
-- ARG.extra is the ERROR event's own fields; ARG.dlq_suffix ends the public DLQ id (the
-- partition, since stream ids repeat across partitions); the tail is the callback and failure
-- callback (create_messages). The message hash stays (with a TTL) because DLQ listings read it.
-- Returns the public DLQ id, or 'gone', 'stolen' or 'cancelled' (settle_attempt in partition.lua).
local key, message_id = KEY.message, ARG.message_id
local refused, h = settle_attempt()
if refused then return refused end
release(key, KEY.gate, KEY.wait)
local dlq_id = redis.call('XADD', DLQ, '*', 'id', message_id) .. ARG.dlq_suffix
redis.call('HSET', key, 'state', 'FAILED', 'last', ARG.last_response, 'dlq', dlq_id, 'queued', 0)
redis.call('PEXPIRE', key, ARG.retention_ms)
add_event(message_id, 'FAILED', h, ARG.extra)
create_messages(dlq_id)
return dlq_id
