-- Store the messages of several requests (the items of one batch that share this partition)
-- in one step: each request into its gate when it has one, and at most once per its
-- deduplication key, as publish.lua and publish_once.lua do for a single request.
-- KEYS: requests...
-- ARGV: requests...
-- Per request, KEYS: gate, wait, dedup, then one key per message; ARGV: gated ('1'/'0'),
-- window_ms (0: not deduplicated), answer (what a later duplicate gets), the message count,
-- then seven values per message (see create_messages in partition.lua; no body suffix here).
-- Returns, per request, the earlier answer when it was a duplicate, else false.
-- All or nothing: what makes Redis refuse a write (OOM, READONLY) refuses the script's first
-- write, before anything is stored; nothing after it can fail on keys of these types.
local replies = {}
local k, a = KEY_TAIL, ARG_TAIL
while ARGV[a] do
  local gate, wait, dedup = KEYS[k], KEYS[k + 1], KEYS[k + 2]
  local window, count = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 3])
  local earlier = window > 0 and redis.call('GET', dedup)
  if earlier then
    replies[#replies + 1] = earlier
  else
    -- A gate that does not exist (never configured) would hold its messages forever: skip it.
    local gated = ARGV[a] == '1' and redis.call('EXISTS', gate) == 1
    for i = 0, count - 1 do
      local at = a + 4 + i * 7
      create_message(KEYS[k + 3 + i], ARGV[at], ARGV[at + 1], ARGV[at + 2],
        tonumber(ARGV[at + 4]), tonumber(ARGV[at + 5]), ARGV[at + 6], gated and wait or nil)
    end
    if gated then pump(gate, wait) end
    if window > 0 then redis.call('SET', dedup, ARGV[a + 2], 'PX', window) end
    replies[#replies + 1] = false
  end
  k = k + 3 + count
  a = a + 4 + count * 7
end
return replies
