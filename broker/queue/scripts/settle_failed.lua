-- Retries exhausted (or a non-retryable answer): dead-letter the message, free its gate slot.
-- KEYS: gate wait message run steps members messages...
-- ARGV: consumer entry_id message_id last_response extra retention_ms dlq_suffix own_callbacks fails_run failure_callback run_retention_ms messages...
-- ARG.extra is the ERROR event's own fields; ARG.dlq_suffix ends the public DLQ id (the
-- partition, since stream ids repeat across partitions); the tail's first ARG.own_callbacks
-- are the message's callback and failure callback (create_messages). The message hash stays
-- (with a TTL) because DLQ listings read it.
-- A workflow step (ARG.fails_run = '1') fails its run here too, which lives in this
-- partition (KEY.run, KEY.steps, KEY.members): if the run is still running, it ends
-- RUN_FAILED and the rest of the tail is created: the run's failure callback (first, when
-- ARG.failure_callback = '1') and its invoker's report. So no crash can leave the step
-- dead-lettered and its run running (docs/workflow.md). The run records the DLQ id (`fdlq`),
-- the failed step (`fstep`) and its failure callback (`fcb`) for the logs
-- (workflow_progress.py) and the workflow DLQ (workflow_dlq.py).
-- Returns the public DLQ id ({dlq id, 'RUN_FAILED'} when that also ended the step's run), or
-- 'gone', 'stolen' or 'cancelled' (settle_attempt in partition.lua).
local key, message_id = KEY.message, ARG.message_id
local refused, h = settle_attempt()
if refused then return refused end
release(key, KEY.gate, KEY.wait)
local dlq_id = redis.call('XADD', DLQ, '*', 'id', message_id) .. ARG.dlq_suffix
redis.call('HSET', key, 'state', 'FAILED', 'last', ARG.last_response, 'dlq', dlq_id, 'queued', 0)
redis.call('PEXPIRE', key, ARG.retention_ms)
add_event(message_id, 'FAILED', h, ARG.extra)
local own = tonumber(ARG.own_callbacks)
create_messages(dlq_id, nil, 0, own)
if ARG.fails_run == '1'
    and end_run(KEY.run, KEY.steps, KEY.members, 'RUN_FAILED', ARG.run_retention_ms) then
  redis.call('HSET', KEY.run, 'fdlq', dlq_id, 'fstep', message_id)
  if create_messages(dlq_id, nil, own) > 0 and ARG.failure_callback == '1' then
    redis.call('HSET', KEY.run, 'fcb', ARGV[ARG_TAIL + 7 * own])
  end
  return {dlq_id, 'RUN_FAILED'}
end
return dlq_id
