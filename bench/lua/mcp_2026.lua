-- Rows R1 and T2: tools/call in the sessionless 2026-07-28 style, exactly as the `mcp` Python
-- client (`Client(url)`, mode "auto", mcp 2.3.0) sends it: one POST to /mcp with the routing
-- headers and the `_meta` envelope (captured from a real client, see bench/README.md).
wrk.method = "POST"
wrk.path = "/mcp"
wrk.headers["Accept"] = "application/json, text/event-stream"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["MCP-Protocol-Version"] = "2026-07-28"
wrk.headers["Mcp-Method"] = "tools/call"
wrk.headers["Mcp-Name"] = "add"
wrk.body = '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"add",'
  .. '"arguments":{"a":2,"b":3},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28",'
  .. '"io.modelcontextprotocol/clientInfo":{"name":"mcp","version":"0.1.0"},'
  .. '"io.modelcontextprotocol/clientCapabilities":{}}}}'
expect = '"text":"5"'
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
