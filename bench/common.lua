-- Shared by the bench scripts: every thread counts answers and wrong answers; done()
-- prints them, so a fast wrong answer cannot pass for throughput.
threads = {}
local counter = 0

function setup(thread)
	counter = counter + 1
	thread:set("tid", counter)
	threads[#threads + 1] = thread
end

answers, wrong = 0, 0

function check(ok)
	answers = answers + 1
	if not ok then
		wrong = wrong + 1
	end
end

function done(summary, latency, requests)
	local a, w = 0, 0
	for _, t in ipairs(threads) do
		a = a + t:get("answers")
		w = w + t:get("wrong")
	end
	io.write(string.format("checked answers: %d, wrong: %d\n", a, w))
end

function lines(path)
	local t = {}
	for line in io.lines(path) do
		t[#t + 1] = line
	end
	return t
end

local URL_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

-- len characters drawn from charset (default: base64url)
function rand_string(len, charset)
	charset = charset or URL_CHARS
	local out = {}
	for i = 1, len do
		local k = math.random(#charset)
		out[i] = charset:sub(k, k)
	end
	return table.concat(out)
end
