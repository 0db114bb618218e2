-- Note that a failed run's failure callback was delivered, for failureCallbackInfo (the
-- delivered message itself is kept only for HOOKSTREAM_DELIVERED_RETENTION).
-- KEYS: run
-- ARGV: callback_id record
-- Only while it is still the run's callback (`fcb`); never creates the run hash. Returns 1,
-- or 0 when it is not.
if redis.call('HGET', KEY.run, 'fcb') ~= ARG.callback_id then return 0 end
redis.call('HSET', KEY.run, 'fcs', ARG.record)
return 1
