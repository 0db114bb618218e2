-- Drop the ready stream's entries that were read and acked. Settles only ack (XACK): an XDEL
-- per settle made the server walk the deleted entries at the head of the stream's node to
-- find the new first entry, which cost Redis more than every other command of a delivery
-- together (docs/performance-log.md, 2026-12-03). Workers run this instead
-- about once a second on each partition they acked in (Consumer.trim_acked).
-- KEYS:
-- ARGV: span_ms scan
-- An entry is dropped only when the group has read it (at or before its last-delivered id)
-- and no consumer holds it (not pending), so nothing unread and nothing in flight is lost:
-- the trim stops at the oldest pending entry. When that entry's id is more than ARG.span_ms
-- older than the last read one (a slow delivery holding the head while reading went on),
-- up to ARG.scan entries after it are also looked at one by one and the acked ones deleted,
-- so one slow delivery cannot make the stream keep everything read after it.
-- Returns how many entries went.
local pending = redis.call('XPENDING', READY, GROUP)
local last_read
for _, group in ipairs(redis.call('XINFO', 'GROUPS', READY)) do
  local fields = {}
  for i = 1, #group, 2 do fields[group[i]] = group[i + 1] end
  if fields['name'] == GROUP then last_read = fields['last-delivered-id'] end
end
if not last_read then return 0 end
if pending[1] == 0 then
  local newest = redis.call('XREVRANGE', READY, '+', '-', 'COUNT', 1)[1]
  if newest and newest[1] == last_read then return redis.call('XTRIM', READY, 'MAXLEN', 0) end
  return redis.call('XTRIM', READY, 'MINID', last_read)
end
local oldest = pending[2]
local dropped = redis.call('XTRIM', READY, 'MINID', oldest)
local function ms(id) return tonumber(string.match(id, '^(%d+)')) end
if ms(last_read) - ms(oldest) <= tonumber(ARG.span_ms) then return dropped end
local scan = tonumber(ARG.scan)
local read = redis.call('XRANGE', READY, '(' .. oldest, last_read, 'COUNT', scan)
if #read == 0 then return dropped end
local held = {}
for _, p in ipairs(redis.call('XPENDING', READY, GROUP, '(' .. oldest, read[#read][1], scan)) do
  held[p[1]] = true
end
local acked = {}
for _, entry in ipairs(read) do
  if not held[entry[1]] then acked[#acked + 1] = entry[1] end
end
if #acked == 0 then return dropped end
return dropped + redis.call('XDEL', READY, unpack(acked))
