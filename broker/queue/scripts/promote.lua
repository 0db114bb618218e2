-- Move due members of the delayed set to the ready stream (at most ARG.limit of them).
-- KEYS:
-- ARGV: limit
-- ZREM decides who moves a member, so any number of workers may run this at once without
-- duplicates. Returns {moved, ms until the next due member or -1 when none is left}.
-- The head is looked at first: an idle promoter (nothing delayed, or nothing due yet) costs
-- one ZRANGE (and TIME), not a range scan.
local head = redis.call('ZRANGE', DELAYED, 0, 0, 'WITHSCORES')
if #head == 0 then return {0, -1} end
local now = now_ms()
if tonumber(head[2]) > now then return {0, tonumber(head[2]) - now} end
local due = redis.call('ZRANGEBYSCORE', DELAYED, '-inf', now, 'LIMIT', 0, tonumber(ARG.limit))
local moved = 0
for _, id in ipairs(due) do
  if redis.call('ZREM', DELAYED, id) == 1 then
    redis.call('XADD', READY, '*', 'id', id)
    moved = moved + 1
  end
end
local next_due = redis.call('ZRANGE', DELAYED, 0, 0, 'WITHSCORES')
if #next_due == 0 then return {moved, -1} end
return {moved, math.max(0, tonumber(next_due[2]) - now)}
