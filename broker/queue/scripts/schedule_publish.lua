-- Publish the messages of one claimed schedule tick, at most once (runs in their partition).
-- KEYS[5] tick marker, KEYS[6..] one message hash per message.
-- ARGV[3] marker TTL ms, ARGV[4..] seven values per message (see create_children in lib.lua).
-- The marker and the messages are written together, so a replica that retries a claim after a
-- crash finds the marker and writes nothing. Returns the number of messages created (0 = the
-- tick was already published).
if not redis.call('SET', KEYS[5], '1', 'NX', 'PX', ARGV[3]) then return 0 end
return create_children(6, 4, nil)
