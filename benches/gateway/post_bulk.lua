-- wrk script: POST /api/v1/logs/bulk with NDJSON bodies of BULK_N distinct logs
-- (default 5000; consistent readings, so no warnings in the answers). Usage: BULK_N=5000 wrk -t2 -c4 -d30s -s post_bulk.lua http://127.0.0.1:8000
local threads = {}
function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

local n = tonumber(os.getenv("BULK_N") or "5000")
local template = '{"schema_version":"emlog-1.1","site_id":"PLANT-01","iot_device_id":"gw-PLANT01-003",' ..
  '"meter_id":"BULK-%s-%d","ts_start":"2025-12-01T10:10:00Z","ts_end":"2025-12-01T10:15:00Z",' ..
  '"interval_s":300,"energy_kwh":12.34,"status":"ok","tags":["peak"],' ..
  '"tx":{"unit":"sats","price_sats_per_kwh":100,"amount_sats":1234,"channel":"ln",' ..
  '"settlement_status":"pending","ln_invoice_id":null,"bitcoin_txid":null}}\n'
local headers = { ["Content-Type"] = "application/x-ndjson" }

function init(args)
  counter = 0
  math.randomseed(os.time() + (tid or 0) * 7919)
  prefix = string.format("%d-%d-%d", tid or 0, os.time(), math.random(1, 1000000000))
end

function request()
  local lines = {}
  for i = 1, n do
    counter = counter + 1
    lines[i] = string.format(template, prefix, counter)
  end
  return wrk.format("POST", "/api/v1/logs/bulk", headers, table.concat(lines))
end
