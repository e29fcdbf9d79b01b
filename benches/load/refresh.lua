-- Refresh-token grants where every request redeems a token that has never been used.
--
-- A refresh token is single-use (rotation): redeeming one twice revokes its session, so a fixed
-- body would measure the replay path, not the grant. Each request here redeems the refresh token
-- that an earlier response on this wrk thread returned, as a real client does: the harness seeds
-- one fresh token per connection, plus one because wrk calls request() once to check the script
-- before it connects (password grants, before the measured run), `response`
-- queues the token each answer carries and `request` takes the oldest queued one. Every request
-- is therefore one honest rotation (take the old token, issue and store a new one), and the pool
-- never runs dry however many requests the run makes. The harness runs wrk with one thread, so
-- one Lua state holds every chain.
--
-- The harness prepends: wrk.method, wrk.headers, BODY_PREFIX (the form up to the token value),
-- PLACEHOLDER (a token-shaped value used when an answer carried no token: the baseline server,
-- or a failed grant, which then shows up as an error) and SEEDS (the fresh tokens).

local queue, head, tail = {}, 1, 0
for _, token in ipairs(SEEDS) do
  tail = tail + 1
  queue[tail] = token
end

function request()
  local token = PLACEHOLDER
  if head <= tail then
    token = queue[head]
    queue[head] = nil
    head = head + 1
  end
  return wrk.format(nil, nil, nil, BODY_PREFIX .. token)
end

function response(status, headers, body)
  tail = tail + 1
  queue[tail] = body:match('"refresh_token":"([^"]+)"') or PLACEHOLDER
end
