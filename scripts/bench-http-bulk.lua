-- 25 distinct heartbeats per request: each thread and request gets its own times.
local counter = 0
local tid = 0
setup = function(thread) tid = tid + 1; thread:set("tid", tid) end
request = function()
  counter = counter + 1
  local base = 1764000000 + (tid or 0) * 100000000 + counter * 25
  local parts = {}
  for i = 0, 24 do
    parts[#parts + 1] = string.format('{"entity":"/src/f%d.rs","type":"file","time":%d.%03d,"language":"Rust","project":"p"}', i % 5, base + i, counter % 1000)
  end
  return wrk.format("POST", "/api/v1/users/current/heartbeats.bulk", nil, "[" .. table.concat(parts, ",") .. "]")
end
