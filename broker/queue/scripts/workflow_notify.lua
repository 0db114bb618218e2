-- Hand an event to a run's waiter: the notified step is stored, due now, and appended.
-- KEYS: run steps members waits messages...
-- ARGV: event_id waiter step messages...
-- Only if ARG.waiter is still the run's waiter for the event (a timeout or another notify
-- may have taken it) and the run is running; then the waiter is removed. Returns 1 or 0.
if redis.call('HGET', KEY.run, 'state') ~= 'RUN_STARTED' then return 0 end
if redis.call('HGET', KEY.waits, ARG.event_id) ~= ARG.waiter then return 0 end
redis.call('HDEL', KEY.waits, ARG.event_id)
local message_id = ARGV[ARG_TAIL]
create_messages(nil, nil)
local count = redis.call('RPUSH', KEY.steps, ARG.step)
redis.call('HINCRBY', KEY.run, 'bytes', #ARG.step)
redis.call('SADD', KEY.members, message_id)
redis.call('HSET', KEYS[KEY_TAIL], 'wfi', count - 1)
return 1
