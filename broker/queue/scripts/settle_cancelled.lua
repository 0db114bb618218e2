-- A queued message found cancelled when its entry was read: ack it and free its queue slot.
-- KEYS[5] queue hash, KEYS[6] queue wait list, KEYS[7] message hash.
-- ARGV[3] consumer, ARGV[4] entry id, ARGV[5] message id.
ack(ARGV[4])
if redis.call('EXISTS', KEYS[7]) == 1 then
  finish_cancelled(KEYS[7], ARGV[5], KEYS[5], KEYS[6])
end
return 'cancelled'
