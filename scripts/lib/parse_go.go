// Times Prometheus' own Go parser (github.com/prometheus/common/expfmt.TextParser, from
// Debian's golang-github-prometheus-common-dev) on one page, for scripts/bench.
//
// Prints one line: MBps=<10^6 bytes per second> series=<samples per parse> iterations=<n>.
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
	iterations, start := 0, time.Now()
	for {
		parseOnce(page)
		iterations++
		if elapsed := time.Since(start).Seconds(); elapsed >= seconds && iterations >= 3 {
			fmt.Printf("MBps=%.2f series=%d iterations=%d\n", float64(len(page))*float64(iterations)/elapsed/1e6, series, iterations)
			return
		}
	}
}
