-- Rows R2 and T3: tools/call on the handshake-era protocol 2025-06-18 without a session
-- (the server runs stateless_http=True), POST /mcp.
wrk.method = "POST"
wrk.path = "/mcp"
wrk.headers["Accept"] = "application/json, text/event-stream"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["MCP-Protocol-Version"] = "2025-06-18"
wrk.body = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"add",'
  .. '"arguments":{"a":2,"b":3}}}'
expect = '"text":"5"'
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
