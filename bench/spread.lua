-- wrk request script: the redirect of many links in turn (writes spread over many rows), against
-- the redirect of one link (a hot row). The codes, made before the run, come comma-separated in
-- the environment variable BENCH_CODES; each wrk thread starts at a different place in the list.
-- The benchmark appends bench/report.lua to it, for its JSON line of figures.
codes = {}
for code in string.gmatch(os.getenv("BENCH_CODES") or "", "[^,]+") do
  codes[#codes + 1] = code
end
if #codes == 0 then
  error("BENCH_CODES is empty: the benchmark passes the codes of the links it made")
end

local threads = 0
setup = function(thread)
  thread:set("position", threads * 37)
  threads = threads + 1
end

position = 0
request = function()
  position = position + 1
  return wrk.format("GET", "/" .. codes[(position % #codes) + 1])
end
