-- Begin delivery attempts for entries just read (or reclaimed) from the ready stream.
-- KEYS: messages...
-- ARGV: reclaimed entries...
-- ARG.reclaimed is '1' when the entries were reclaimed from a dead worker; the tail keys are
-- the message hashes, the tail args (entry id, message id) pairs.
-- The attempt is counted here, BEFORE the request is made, so a message that kills its worker
-- cannot loop forever; reclaims are counted too, to spot poison messages.
-- Entries whose message is gone, final (FAILED, or DELIVERED and kept for reading: say a
-- duplicate entry after a reclaim) or cancelled are acked and skipped, except cancelled
-- messages of a gate: those come back as {envelope} alone so that settle_cancelled, given
-- their gate's keys, frees their slot. A delayed message of a gate that just came due
-- (`gate_due`) is no attempt yet: it comes back as {envelope, 'gate'}, for gate_enter.
-- Returns one item per pair: false, {envelope}, {envelope, 'gate'} or
-- {envelope, body, attempts, reclaims}.
-- One HMGET reads every field any branch needs (the body too: read anyway for an attempt,
-- which almost every entry is), instead of a command per field, and one HSET writes the
-- counters with the state: the script is atomic, so no HINCRBY is needed.
local result = {}
local reclaimed = ARG.reclaimed == '1'
local i = 0
while ARGV[ARG_TAIL + 2 * i] do
  local entry_id, message_id = ARGV[ARG_TAIL + 2 * i], ARGV[ARG_TAIL + 1 + 2 * i]
  local key = KEYS[KEY_TAIL + i]
  local f = redis.call('HMGET', key, 'state', 'queued', 'gate_due', 'm', 'b', 'evh', 'attempts',
    'reclaims')
  local state, envelope = f[1], f[4]
  if not state or state == 'FAILED' or state == 'DELIVERED' then
    ack(entry_id)
    result[i + 1] = false
  elseif state == 'CANCEL_REQUESTED' and f[2] == '1' then
    result[i + 1] = {envelope}
  elseif state == 'CANCEL_REQUESTED' then
    ack(entry_id)
    finish_cancelled(key, message_id)
    result[i + 1] = false
  elseif f[3] == '1' then
    result[i + 1] = {envelope, 'gate'}
  else
    local attempts = (tonumber(f[7]) or 0) + 1
    if reclaimed then
      local reclaims = (tonumber(f[8]) or 0) + 1
      redis.call('HSET', key, 'state', 'ACTIVE', 'attempts', attempts, 'reclaims', reclaims)
      result[i + 1] = {envelope, f[5], attempts, reclaims}
    else
      redis.call('HSET', key, 'state', 'ACTIVE', 'attempts', attempts)
      result[i + 1] = {envelope, f[5], attempts, 0}
    end
    add_event(message_id, 'ACTIVE', f[6] or '{}')
  end
  i = i + 1
end
return result
