// Allocation load for the Go logs of corpus/local (see generate.sh).
//
//	gcload leak [MEGABYTES]    keeps one of every 64 buffers forever
//	gcload steady [MEGABYTES]  keeps only the last 256 buffers
//
// MEGABYTES of 1 KiB buffers are allocated (400 unless given).
package main

import (
	"fmt"
	"os"
	"strconv"
)

func main() {
	leak := len(os.Args) > 1 && os.Args[1] == "leak"
	var kept [][]byte
	var window [256][]byte
	sum := 0
	megabytes := 400
	if len(os.Args) > 2 {
		if n, err := strconv.Atoi(os.Args[2]); err == nil {
			megabytes = n
		}
	}
	for i := 0; i < megabytes*1024; i++ {
		buffer := make([]byte, 1024)
		buffer[i%1024] = byte(i)
		sum += int(buffer[(i*7)%1024])
		if leak && i%64 == 0 {
			kept = append(kept, buffer)
		} else {
			window[i%len(window)] = buffer
		}
	}
	fmt.Println("checksum", sum, "kept", len(kept))
}
