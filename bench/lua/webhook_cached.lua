-- Row T5: as T1, to the same addition declared a cached read (cache_ttl): the first call runs
-- the tool, every later one is answered from the cache, behind the same circuit breaker.
wrk.method = "POST"
wrk.path = "/tools/add_cached"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"type":"ToolWebHookPayload","status":"Running","callId":"bench","agentId":"a",'
  .. '"orgId":"o","toolName":"add_cached","arguments":{"a":2,"b":3},'
  .. '"callAdditionalData":{},"agentAdditionalData":{}}'
expect = "5"
exact = true
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
