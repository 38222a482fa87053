// leaky: a small Go server whose heap has known shapes, for heapwise's
// profiles tests (crates/profiles/tests/README.md says how its profiles
// were taken).
//
//   - a leak: 1 KiB appended to a global slice every 10 ms (100 KiB/s),
//     never released;
//   - a cache that fills (2,048 entries of 2 KiB, one every 10 ms, so
//     about 20 s) and then plateaus: every new entry evicts the oldest;
//   - garbage: 64 KiB buffers made and dropped every millisecond, so
//     that the collector runs and the heap churns.
//
// /debug/pprof/heap (net/http/pprof) serves the heap profile; /truth says
// what the program leaked so far, as JSON.
package main

import (
	"encoding/json"
	"flag"
	"log"
	"net/http"
	_ "net/http/pprof"
	"runtime"
	"sync"
	"time"
)

var (
	mu      sync.Mutex
	leaked  [][]byte
	started = time.Now()
	cache   = map[int][]byte{}
	sink    []byte
)

const (
	leakSize   = 1024
	cacheSize  = 2048
	cacheEntry = 2048
)

func leak() {
	tick := time.NewTicker(10 * time.Millisecond)
	for range tick.C {
		buf := make([]byte, leakSize)
		mu.Lock()
		leaked = append(leaked, buf)
		mu.Unlock()
	}
}

func fillCache() {
	tick := time.NewTicker(10 * time.Millisecond)
	for key := 0; ; key++ {
		<-tick.C
		entry := make([]byte, cacheEntry)
		mu.Lock()
		cache[key] = entry
		delete(cache, key-cacheSize)
		mu.Unlock()
	}
}

func churn() {
	tick := time.NewTicker(time.Millisecond)
	for range tick.C {
		sink = make([]byte, 64<<10)
	}
}

func truth(w http.ResponseWriter, _ *http.Request) {
	mu.Lock()
	n := len(leaked)
	entries := len(cache)
	mu.Unlock()
	json.NewEncoder(w).Encode(map[string]any{
		"elapsed_s":        time.Since(started).Seconds(),
		"leaked_blocks":    n,
		"leaked_bytes":     n * leakSize,
		"cache_entries":    entries,
		"cache_bytes":      entries * cacheEntry,
		"unix_nanos":       time.Now().UnixNano(),
		"mem_profile_rate": runtime.MemProfileRate,
	})
}

func main() {
	rate := flag.Int("rate", 512*1024, "runtime.MemProfileRate: one sample per this many bytes allocated")
	addr := flag.String("addr", "127.0.0.1:6060", "where to serve /debug/pprof and /truth")
	flag.Parse()
	// As early as possible, before the allocations it should sample.
	runtime.MemProfileRate = *rate
	// Room for 10 minutes of leaking: the slice header array is not a
	// second growing stack.
	leaked = make([][]byte, 0, 60_000)
	go leak()
	go fillCache()
	go churn()
	http.HandleFunc("/truth", truth)
	log.Fatal(http.ListenAndServe(*addr, nil))
}
