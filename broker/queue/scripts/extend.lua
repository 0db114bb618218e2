-- Heartbeat for long deliveries: reset the idle time of entries this consumer still owns, so
-- XAUTOCLAIM elsewhere does not take them. JUSTID leaves the delivery counter alone.
-- ARGV[3] consumer, ARGV[4..] entry ids. Returns how many were extended.
local extended = 0
for i = 4, #ARGV do
  if owner_of(ARGV[i]) == ARGV[3] then
    redis.call('XCLAIM', READY, GROUP, ARGV[3], 0, ARGV[i], 'JUSTID')
    extended = extended + 1
  end
end
return extended
