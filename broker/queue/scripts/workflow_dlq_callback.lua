-- Send a failed run's failure callback again (client.dlq.retryFailureFunction): a new
-- message with the dead-lettered callback's envelope and body, which becomes the run's
-- failure callback (`fcb`); the old one and its own DLQ entry go.
-- KEYS: run callback messages...
-- ARGV: stream_id callback_id callback_stream_id messages...
-- ARG.stream_id is the failed step's DLQ entry (it stays: the run is still failed),
-- ARG.callback_id the callback the caller found failed, ARG.callback_stream_id its DLQ entry
-- ('' if none). Only a callback that is still the run's and still FAILED is sent again, so a
-- second call while the first one's message is on its way sends nothing. Returns 'ok', or
-- 'gone' (no such entry), 'none' (the run's callback is another one, or none), 'busy' (it
-- has not failed).
if #redis.call('XRANGE', DLQ, ARG.stream_id, ARG.stream_id) == 0 then return 'gone' end
if redis.call('HGET', KEY.run, 'fcb') ~= ARG.callback_id then return 'none' end
if redis.call('HGET', KEY.callback, 'state') ~= 'FAILED' then return 'busy' end
if ARG.callback_stream_id ~= '' then redis.call('XDEL', DLQ, ARG.callback_stream_id) end
redis.call('DEL', KEY.callback)
create_messages(nil, nil)
redis.call('HSET', KEY.run, 'fcb', ARGV[ARG_TAIL])
redis.call('HDEL', KEY.run, 'fcs')
return 'ok'
