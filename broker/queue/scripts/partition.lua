-- Partition prelude, prepended (after core.lua) to every script that runs in a message
-- partition `{hs:<p>}`.
--
-- Such a script receives the partition's base keys and arguments before its own (the loader
-- adds them to KEY and ARG): KEY.ready stream, KEY.delayed zset, KEY.events stream, KEY.dlq
-- stream, ARG.events_maxlen and ARG.group (the consumer group). Keys are never built here:
-- all come from broker/queue/keys.py and share one hash tag, so each script stays in one
-- cluster slot. Scripts that pass a gate take its hash and wait list as KEY.gate, KEY.wait
-- (for messages without one, the keys of the empty name, which are never created).
--
-- Every top-level statement here (and in core.lua) is a `local` definition: a script gets only
-- the definitions it names, directly or through another (broker/queue/scripts.py), so nothing
-- may run for its effect alone.
local READY, DELAYED, EVENTS, DLQ = KEY.ready, KEY.delayed, KEY.events, KEY.dlq
local EVENTS_MAXLEN, GROUP = ARG.events_maxlen, ARG.group

-- Append a state change. `h` is the message's event header (JSON object text, stored with
-- the message); `x` holds the fields specific to this event (JSON object text).
local function add_event(message_id, state, h, x)
  redis.call('XADD', EVENTS, 'MAXLEN', '~', EVENTS_MAXLEN, '*',
    'm', message_id, 's', state, 'h', h, 'x', x or '{}')
end

local function event_header(message_key)
  return redis.call('HGET', message_key, 'evh') or '{}'
end

-- The consumer that holds a pending entry, or false when it is not pending (acked).
local function owner_of(entry_id)
  local pending = redis.call('XPENDING', READY, GROUP, entry_id, entry_id, 1)
  if #pending == 0 then return false end
  return pending[1][2]
end

-- The entry stays in the stream until ready_trim.lua drops it with the others acked before
-- it (an XDEL each cost more than the rest of a settle).
local function ack(entry_id)
  redis.call('XACK', READY, GROUP, entry_id)
end

-- Put a message into the delayed set, due at `due` (ms). Promoters sleep until the earliest
-- due time they know of (at most HOOKSTREAM_PROMOTE_INTERVAL_MS): a member that becomes the
-- new head of a delayed set may be due before they wake, so it is announced on WAKE_CHANNEL
-- with the ms until it is due (broker/queue/keys.py DELAYED_HEAD_CHANNEL, the same name).
-- Most members join behind the head, which costs one ZRANGE and nothing else; a lost
-- announcement only makes the member as late as the promoters' longest sleep.
local WAKE_CHANNEL = 'hookstream:delayed-head'
local function delay_until(id, due, now)
  local head = redis.call('ZRANGE', DELAYED, 0, 0, 'WITHSCORES')
  redis.call('ZADD', DELAYED, due, id)
  if #head == 0 or due < tonumber(head[2]) then
    redis.call('PUBLISH', WAKE_CHANNEL, math.max(0, due - (now or now_ms())))
  end
end

-- Gates: ordered queues and flow-control keys. At most `parallelism` (0 = no limit) of a
-- gate's messages are admitted (in the ready stream, in flight, or waiting for a retry) at
-- once; the rest wait in FIFO order in the wait list. `active` counts the admitted ones
-- across all workers. With a `rate`, at most `rate` admissions fall in any `period` ms: an
-- admission that would exceed it is scheduled into the delayed set for the earliest allowed
-- time (`times` keeps the admission times of the last period, newest first, at most `rate`),
-- at most one period ahead, so nothing waiting polls Redis; the next settle or admission
-- pumps the rest.
--
-- One pump admits at most ADMIT_MAX messages, so no script call holds Redis for a whole wait
-- list. Nothing is stranded by the cap: a pump that stops at it has just admitted ADMIT_MAX
-- messages, each of which ends in a settle or cancel that releases its slot and pumps again.
local ADMIT_MAX = 100

-- A gate's admission times: `old` as stored (newest first, as numbers and as their text) and
-- `new`, those of this call (oldest first), so no admission shifts the stored list.
local function history_at(h, i)
  if i <= #h.new then return h.new[#h.new - i + 1] end
  return h.old[i - #h.new]
end

-- The earliest time the next admission may happen under the rate.
local function rate_slot(h, rate, period, now)
  if rate == 0 or #h.old + #h.new < rate then return now end
  return math.max(now, history_at(h, rate) + period)
end

-- The stored times that can still limit an admission: those after now - period (older ones
-- would allow `now` anyway), at most `rate`; `dropped` when any stored one was left out.
local function read_history(raw, rate, period, now)
  local h = {old = {}, text = {}, new = {}, dropped = raw ~= nil and raw ~= '' and rate == 0}
  if rate == 0 then return h end
  for t in string.gmatch(raw or '', '[^,]+') do
    local at = tonumber(t)
    if at > now - period then
      h.old[#h.old + 1], h.text[#h.text + 1] = at, t
      if #h.old == rate then break end
    else
      h.dropped = true
    end
  end
  return h
end

-- Newest first, at most `rate`: the text to store.
local function history_text(h, rate)
  local kept = {}
  for i = #h.new, math.max(1, #h.new - rate + 1), -1 do
    kept[#kept + 1] = string.format('%d', h.new[i])
  end
  for i = 1, math.min(#h.text, rate - #kept) do kept[#kept + 1] = h.text[i] end
  return table.concat(kept, ',')
end

local function pump(gate, wait)
  local g = redis.call('HMGET', gate, 'parallelism', 'paused', 'active', 'rate', 'period', 'times')
  if not g[1] or g[2] == '1' then return end
  local limit, active = tonumber(g[1]), tonumber(g[3] or '0')
  -- Nothing to admit, or no slot: the rate history need not even be read.
  if (limit > 0 and active >= limit) or redis.call('LLEN', wait) == 0 then return end
  local rate, period = tonumber(g[4] or '0'), tonumber(g[5] or '1000')
  local now = now_ms()
  local h = read_history(g[6], rate, period, now)
  while (limit == 0 or active < limit) and #h.new < ADMIT_MAX do
    local at = rate_slot(h, rate, period, now)
    if at > now + period then break end
    local id = redis.call('LPOP', wait)
    if not id then break end
    if at > now then
      delay_until(id, at, now)
    else
      redis.call('XADD', READY, '*', 'id', id)
    end
    active = active + 1
    h.new[#h.new + 1] = at
  end
  if #h.new == 0 and not h.dropped then return end
  redis.call('HSET', gate, 'active', active, 'times', history_text(h, rate))
end

-- Create or change a gate: `parallelism`, `paused` ('1'/'0'), `rate`, `period_ms`, each kept
-- when '' (a new gate starts at parallelism 1, not paused, no rate, a 1 s period). With
-- `create_only` an existing gate is left untouched; with `from_message` (settings a published
-- message carries) a pinned parallelism or rate is left alone. The caller pumps afterwards.
-- Returns 1 while the gate is not in its index yet (just created, or the caller that created
-- it failed before indexing it: the next caller does it), else 0. The index lives in another
-- slot, so the caller adds the name there and then marks the gate `indexed`.
local function set_gate(gate, parallelism, paused, create_only, rate, period_ms, from_message)
  local now = now_ms()
  local function unindexed() return redis.call('HEXISTS', gate, 'indexed') == 0 and 1 or 0 end
  local created = redis.call('HSETNX', gate, 'createdAt', now)
  if created == 0 and create_only then return unindexed() end
  for field, default in pairs({parallelism = 1, paused = 0, active = 0, rate = 0, period = 1000}) do
    redis.call('HSETNX', gate, field, default)
  end
  local function set(field, value, pin)
    if value == '' then return end
    if from_message and pin and redis.call('HGET', gate, pin) == '1' then return end
    redis.call('HSET', gate, field, value)
  end
  set('parallelism', parallelism, 'pinnedParallelism')
  set('paused', paused, nil)
  set('rate', rate, 'pinnedRate')
  set('period', period_ms, 'pinnedRate')
  redis.call('HSET', gate, 'updatedAt', now)
  return unindexed()
end

-- The gate of a publish, opened in the script that stores its messages: an ordered queue
-- ('queue') is created on first use and otherwise left as it is; a flow-control key ('flow')
-- is created too and takes the limits its messages carry. Returns set_gate's `unindexed`.
local function open_gate(gate, kind, parallelism, rate, period_ms)
  if kind == 'queue' then return set_gate(gate, '', '', true, '', '', false) end
  return set_gate(gate, parallelism, '', false, rate, period_ms, true)
end

-- A queued message reached its end (delivered, dead-lettered, cancelled): free its slot.
local function release(message_key, queue, wait)
  if not queue or redis.call('HGET', message_key, 'queued') ~= '1'
      or redis.call('EXISTS', queue) == 0 then
    return
  end
  if redis.call('HINCRBY', queue, 'active', -1) < 0 then redis.call('HSET', queue, 'active', 0) end
  pump(queue, wait)
end

-- Store a new message and make it due: to the ready stream now, or to the delayed set, or,
-- for a gate (`wait` given), to the back of its wait list.
-- The due time is `not_before` (absolute ms) when given, else Redis TIME + `delay` ms, so
-- the ingress host's clock never decides when a message runs. A gated message due later
-- waits in the delayed set first, holding no slot, marked `gate_due`: once due, start.lua
-- hands it back and gate_enter.lua puts it into its wait list.
local function create_message(message_key, id, envelope, body, not_before, delay, evh, wait)
  redis.call('HSET', message_key, 'm', envelope, 'b', body, 'state', 'CREATED',
    'attempts', 0, 'evh', evh)
  local now = now_ms()
  local due = now + delay
  if not_before > 0 then due = not_before end
  local extra = '{}'
  if due > now then
    if wait then redis.call('HSET', message_key, 'gate_due', 1) end
    delay_until(id, due, now)
    extra = string.format('{"nextDeliveryTime":%d}', due)
  elseif wait then
    redis.call('HSET', message_key, 'queued', 1)
    redis.call('RPUSH', wait, id)
  else
    redis.call('XADD', READY, '*', 'id', id)
  end
  add_event(id, 'CREATED', evh, extra)
end

-- Create the messages of the script's tail: seven ARGV each from ARG_TAIL on (id, envelope,
-- body prefix, body suffix, not-before ms or 0, delay ms, event header), with their hash keys
-- in KEYS from KEY_TAIL on. A failure callback's body is prefix .. dlq id .. suffix, because
-- the DLQ id only exists once this script has added the entry. `skip` and `count` (optional)
-- create only `count` of them after the first `skip`.
local function create_messages(dlq_id, wait, skip, count)
  skip = skip or 0
  local key_at, argv_at, n = KEY_TAIL + skip, ARG_TAIL + 7 * skip, 0
  while ARGV[argv_at] and n ~= count do
    local id, envelope, prefix, suffix = ARGV[argv_at], ARGV[argv_at + 1], ARGV[argv_at + 2], ARGV[argv_at + 3]
    local body = prefix
    if suffix ~= '' then body = prefix .. (dlq_id or '') .. suffix end
    create_message(KEYS[key_at + n], id, envelope, body,
      tonumber(ARGV[argv_at + 4]), tonumber(ARGV[argv_at + 5]), ARGV[argv_at + 6], wait)
    n = n + 1
    argv_at = argv_at + 7
  end
  return n
end

-- A message that was cancelled while waiting or in flight ends here (freeing its queue slot
-- when it held one).
local function finish_cancelled(message_key, message_id, queue, wait)
  add_event(message_id, 'CANCELED', event_header(message_key))
  release(message_key, queue, wait)
  redis.call('DEL', message_key)
end

-- The first steps of settling a failed attempt. Only the entry's current owner may settle a
-- failure: a stale worker whose entry was reclaimed must not schedule a second copy. The
-- entry is acked and the ERROR event logged; `after_error` (optional) runs next; a message
-- cancelled meanwhile ends here. Returns the refusal ('gone', 'stolen', 'cancelled') or nil
-- with the message's event header.
local function settle_attempt(after_error)
  local key, message_id = KEY.message, ARG.message_id
  local owner = owner_of(ARG.entry_id)
  if owner == false then return 'gone' end
  if owner ~= ARG.consumer then return 'stolen' end
  ack(ARG.entry_id)
  local h = event_header(key)
  add_event(message_id, 'ERROR', h, ARG.extra)
  if after_error then after_error() end
  if redis.call('HGET', key, 'state') == 'CANCEL_REQUESTED' then
    finish_cancelled(key, message_id, KEY.gate, KEY.wait)
    return 'cancelled'
  end
  return nil, h
end

-- End a running workflow run (docs/workflow.md) in `state`: its keys then expire after the
-- retention. False when the run is unknown or has ended already, so a run ends once.
local function end_run(run, steps, members, state, retention_ms)
  if redis.call('HGET', run, 'state') ~= 'RUN_STARTED' then return false end
  redis.call('HSET', run, 'state', state, 'ended', now_ms())
  for _, key in ipairs({run, steps, members}) do
    redis.call('PEXPIRE', key, tonumber(retention_ms))
  end
  return true
end
