# A CPython workload small enough for callgrind: N records dumped and
# loaded as JSON 12 times (bench/hooks.py --python N).
import json
import sys

n = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
records = [{"id": i, "name": "user%d" % i, "tags": ["a", "b", str(i)], "score": i * 0.5} for i in range(n)]
for _ in range(12):
    text = json.dumps(records)
    records = json.loads(text)
print(len(text))
