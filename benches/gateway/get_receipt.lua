-- wrk script: GET /api/v1/logs/{id}/receipt for random ids in [FIRST_ID, LAST_ID].
-- Usage: FIRST_ID=1 LAST_ID=1000000 wrk -t2 -c16 -d20s --latency -s get_receipt.lua http://127.0.0.1:8000
local first = tonumber(os.getenv("FIRST_ID") or "1")
local last = tonumber(os.getenv("LAST_ID") or "1000000")
local threads = {}
function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end
function init(args)
  math.randomseed(os.time() + (tid or 0) * 104729)
end
function request()
  return wrk.format("GET", "/api/v1/logs/" .. math.random(first, last) .. "/receipt")
end
