-- Take, keep or give up the scheduler lease. Runs in the {hs:sched} slot.
-- KEYS[1] lease key. ARGV[1] this replica's token, ARGV[2] TTL ms (0 = release).
-- The lease only saves work: correctness rests on schedule_claim. Redis expires it, so no
-- host clock is involved. Returns 1 while this replica holds the lease, else 0.
local holder = redis.call('GET', KEYS[1])
if ARGV[2] == '0' then
  if holder == ARGV[1] then redis.call('DEL', KEYS[1]) end
  return 0
end
if holder == false then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
