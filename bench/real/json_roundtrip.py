import json
data = [{"id": i, "name": f"item-{i}", "tags": ["a", "b", str(i % 7)], "score": i * 0.5, "nested": {"k": i, "v": [i, i + 1]}} for i in range(150000)]
text = json.dumps(data)
back = json.loads(text)
assert len(back) == len(data)
print(len(text))
