-- Rows A, B and T1: BlackBox's ToolWebHookPayload for add(2, 3), POST /tools/add.
-- T1 also gets X-Api-Key (from BENCH_API_KEY, added by common.lua).
wrk.method = "POST"
wrk.path = "/tools/add"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"type":"ToolWebHookPayload","status":"Running","callId":"bench","agentId":"a",'
  .. '"orgId":"o","toolName":"add","arguments":{"a":2,"b":3},"callAdditionalData":{},'
  .. '"agentAdditionalData":{}}'
expect = "5"
exact = true
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
