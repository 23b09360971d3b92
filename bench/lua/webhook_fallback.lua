-- Row T4: as T1, to a tool whose system is down: after its first 5 failures its circuit is open
-- and every call is answered with the tool's fallback (5) without running it.
wrk.method = "POST"
wrk.path = "/tools/add_upstream_down"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"type":"ToolWebHookPayload","status":"Running","callId":"bench","agentId":"a",'
  .. '"orgId":"o","toolName":"add_upstream_down","arguments":{"a":2,"b":3},'
  .. '"callAdditionalData":{},"agentAdditionalData":{}}'
expect = "5"
exact = true
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
