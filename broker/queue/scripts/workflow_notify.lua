-- Hand an event to a run's wait: the notified step is stored, due now, and appended.
-- KEYS: run steps members pending messages...
-- ARGV: event_id expected step messages...
-- KEY.pending is the run's waiters (a notify after the wait; ARG.expected is the waiter) or
-- its held events (a wait after a notify by run id; ARG.expected is the event's data). Only if
-- that entry is still ARG.expected (a timeout or another notify may have taken it) and the run
-- is running; then the entry is removed. Returns 1 or 0.
if redis.call('HGET', KEY.run, 'state') ~= 'RUN_STARTED' then return 0 end
if redis.call('HGET', KEY.pending, ARG.event_id) ~= ARG.expected then return 0 end
redis.call('HDEL', KEY.pending, ARG.event_id)
local message_id = ARGV[ARG_TAIL]
create_messages(nil, nil)
local count = redis.call('RPUSH', KEY.steps, ARG.step)
redis.call('HINCRBY', KEY.run, 'bytes', #ARG.step)
redis.call('SADD', KEY.members, message_id)
redis.call('HSET', KEYS[KEY_TAIL], 'wfi', count - 1)
return 1
