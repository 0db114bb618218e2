-- Take, keep or give up the scheduler lease. Runs in the {hs:sched} slot.
-- KEYS: lease
-- ARGV: token ttl_ms
-- ARG.ttl_ms 0 releases. The lease only saves work: correctness rests on schedule_claim.
-- Redis expires it, so no host clock is involved. Returns 1 while this replica holds the
-- lease, else 0.
local holder = redis.call('GET', KEY.lease)
if ARG.ttl_ms == '0' then
  if holder == ARG.token then redis.call('DEL', KEY.lease) end
  return 0
end
if holder == false then
  redis.call('SET', KEY.lease, ARG.token, 'PX', ARG.ttl_ms)
  return 1
end
if holder == ARG.token then
  redis.call('PEXPIRE', KEY.lease, ARG.ttl_ms)
  return 1
end
return 0
