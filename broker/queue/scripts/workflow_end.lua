-- End a running workflow run: RUN_SUCCESS (with its result), RUN_FAILED (with an error when
-- hookstream found one) or RUN_CANCELED.
-- KEYS: run steps members messages...
-- ARGV: state result error retention_ms messages...
-- Only a running run ends, once (end_run in partition.lua); then the tail's messages are
-- created. Returns the ids of the run's messages (for cancel), or false when the run was
-- unknown or had already ended.
if not end_run(KEY.run, KEY.steps, KEY.members, ARG.state, ARG.retention_ms) then return false end
if ARG.result ~= '' then redis.call('HSET', KEY.run, 'result', ARG.result) end
if ARG.error ~= '' then redis.call('HSET', KEY.run, 'error', ARG.error) end
create_messages(nil, nil)
return redis.call('SMEMBERS', KEY.members)
