// Times Prometheus' own Go parser (github.com/prometheus/common/expfmt.TextParser, from
// Debian's golang-github-prometheus-common-dev) on one page, for scripts/bench.
//
// Prints one line: MBps=<fastest of 5 rounds, 10^6 bytes per second> series=<samples per parse>
// MBps_mean=<all rounds> iterations=<n>.
package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/prometheus/common/expfmt"
)

func parseOnce(page []byte) int {
	var parser expfmt.TextParser
	families, err := parser.TextToMetricFamilies(bytes.NewReader(page))
	if err != nil {
		fmt.Fprintln(os.Stderr, "parse_go:", err)
		os.Exit(1)
	}
	series := 0
	for _, family := range families {
		for _, m := range family.Metric {
			if m.Histogram != nil {
				series += len(m.Histogram.Bucket) + 2
			} else if m.Summary != nil {
				series += len(m.Summary.Quantile) + 2
			} else {
				series++
			}
		}
	}
	return series
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: parse_go FILE [SECONDS]")
		os.Exit(2)
	}
	page, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "parse_go:", err)
		os.Exit(1)
	}
	seconds := 2.0
	if len(os.Args) > 2 {
		if seconds, err = strconv.ParseFloat(os.Args[2], 64); err != nil {
			fmt.Fprintln(os.Stderr, "parse_go: bad SECONDS:", err)
			os.Exit(2)
		}
	}
	series := parseOnce(page)
	// As kms-bench does: the fastest of `rounds` rounds is the parser's speed on a shared machine.
	const rounds = 5
	total, totalElapsed, best := 0, 0.0, 0.0
	for r := 0; r < rounds; r++ {
		iterations, start := 0, time.Now()
		elapsed := 0.0
		for elapsed < seconds/rounds {
			parseOnce(page)
			iterations++
			elapsed = time.Since(start).Seconds()
		}
		if rate := float64(len(page)) * float64(iterations) / elapsed / 1e6; rate > best {
			best = rate
		}
		total += iterations
		totalElapsed += elapsed
	}
	fmt.Printf("MBps=%.2f series=%d MBps_mean=%.2f iterations=%d\n", best, series,
		float64(len(page))*float64(total)/totalElapsed/1e6, total)
}
