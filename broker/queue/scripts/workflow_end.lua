-- End a running workflow run: RUN_SUCCESS (with its result), RUN_FAILED (with an error when
-- hookstream found one) or RUN_CANCELED.
-- KEYS: run steps members messages...
-- ARGV: state result error retention_ms messages...
-- Only a running run ends, once; then the tail's messages (a failure callback) are created
-- and the run's keys expire after the retention. Returns the ids of the run's messages (for
-- cancel), or false when the run was unknown or had already ended.
if redis.call('HGET', KEY.run, 'state') ~= 'RUN_STARTED' then return false end
redis.call('HSET', KEY.run, 'state', ARG.state, 'ended', now_ms())
if ARG.result ~= '' then redis.call('HSET', KEY.run, 'result', ARG.result) end
if ARG.error ~= '' then redis.call('HSET', KEY.run, 'error', ARG.error) end
create_messages(nil, nil)
local members = redis.call('SMEMBERS', KEY.members)
local retention = tonumber(ARG.retention_ms)
redis.call('PEXPIRE', KEY.run, retention)
redis.call('PEXPIRE', KEY.steps, retention)
redis.call('PEXPIRE', KEY.members, retention)
return members
