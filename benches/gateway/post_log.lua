-- wrk script: POST /api/v1/logs with a distinct log per request (the founding
-- example with a unique meter_id), so every request stores a new log.
-- Usage: wrk -t2 -c64 -d30s -s post_log.lua http://127.0.0.1:8000
local threads = {}
function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  counter = 0
  math.randomseed(os.time() + (tid or 0) * 7919)
  prefix = string.format("%d-%d-%d", tid or 0, os.time(), math.random(1, 1000000000))
end

local template = '{"schema_version":"emlog-1.1","site_id":"PLANT-01","iot_device_id":"gw-PLANT01-003",' ..
  '"meter_id":"MTR-%s-%d","ts_start":"2025-12-01T10:10:00Z","ts_end":"2025-12-01T10:15:00Z",' ..
  '"interval_s":300,"energy_kwh":12.34,"power_kw_avg":2.47,"status":"ok","tags":["peak"],' ..
  '"tx":{"unit":"sats","price_sats_per_kwh":100,"amount_sats":1234,"channel":"ln",' ..
  '"settlement_status":"pending","ln_invoice_id":null,"bitcoin_txid":null}}'
local headers = { ["Content-Type"] = "application/json" }
-- The FastAPI baseline takes the same body at the same path.

function request()
  counter = counter + 1
  return wrk.format("POST", "/api/v1/logs", headers, string.format(template, prefix, counter))
end
