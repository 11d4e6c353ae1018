// Package keplerharness is what every generation's program shares: it reads the usage vectors,
// puts a recording relay between Kepler's own client code and kms-api (so that the report
// shows the exact requests Kepler sent and what it got back), converts our canonical rates into
// the per-period counter deltas a Kepler collector would hold, and prints the result.
//
// Input (stdin, JSON):
//
//	{"period": 3, "arch": "Sky Lake",
//	 "vectors": [{"cpu_cycles": 2.1e9, "cpu_instructions": 3e9, "cache_misses": 1e7,
//	              "cpu_time": 2.5, "resident_memory": 4e9, ...}, ...]}
//
// rates per second, cpu_time in cpu-seconds per second, memory in bytes; period = the Kepler
// sample period in seconds (Kepler's SAMPLE_PERIOD_SEC, default 3).
//
// Output (stdout, JSON): {"generation", "requests": [{"method","path","body","status","answer"}],
// "models": {"components": bool, "platform": bool}, "watts": [{"package": W, ...}, ...],
// "idle": [{"package": W, ...}, ...] (0.7.12+: the idle part, which Kepler scales by its core ratio)}.
package keplerharness

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"sync"
	"time"
)

// Input is what the integration test hands a generation's program.
type Input struct {
	Period  uint64               `json:"period"`
	Arch    string               `json:"arch"`
	Vectors []map[string]float64 `json:"vectors"`
}

// Exchange is one HTTP request Kepler's code made, and the answer it got.
type Exchange struct {
	Method string          `json:"method"`
	Path   string          `json:"path"`
	Body   json.RawMessage `json:"body,omitempty"`
	Status int             `json:"status"`
	Answer json.RawMessage `json:"answer,omitempty"`
	Text   string          `json:"text,omitempty"` // the answer when it is not JSON
}

// Output is what the program prints.
type Output struct {
	Generation string               `json:"generation"`
	Requests   []Exchange           `json:"requests"`
	Models     map[string]bool      `json:"models"`
	Watts      []map[string]float64 `json:"watts"`
	Idle       []map[string]float64 `json:"idle,omitempty"` // the idle part of Watts, where a program reports it
}

// Metric maps one of Kepler's metric names to a canonical feature and the factor from the
// canonical unit to Kepler's (bpf_cpu_time_ms: cpu_time x 1000).
type Metric struct {
	Canonical string
	Factor    float64
}

// InitPath, when set (--init-path), asks a 0.7+ program to configure Kepler without a model
// server: <KEY>_INIT_URL = relay + InitPath + source, the GET Kepler 0.7+ loads at start.
var InitPath string

// report is where Print writes: the real stdout. Some releases print debug lines with fmt.Printf
// (v0.5.4 pkg/collector/metric/node_metric.go CalcDynEnergy), so os.Stdout is pointed at stderr.
var report = os.Stdout

// Start parses the flags and stdin and starts the relay. The returned URL is the relay's root.
func Start() (Input, string, *Relay) {
	os.Stdout = os.Stderr
	api := flag.String("api", "http://127.0.0.1:8100", "kms-api base URL")
	flag.StringVar(&InitPath, "init-path", "", "0.7+: no model server, load <path><source> as Kepler's *_INIT_URL")
	flag.Parse()
	var in Input
	if err := json.NewDecoder(os.Stdin).Decode(&in); err != nil {
		Fail("reading the input: %v", err)
	}
	if in.Period == 0 {
		Fail("input: period must be a positive number of seconds")
	}
	r, err := newRelay(*api)
	if err != nil {
		Fail("relay: %v", err)
	}
	return in, r.url, r
}

// Deltas turns one vector of canonical per-second rates into the counter deltas that Kepler's
// collector holds for one sample period, for the metric names given (rounded to integers, as
// Kepler's counters are uint64). A metric whose canonical feature is absent is 0.
func Deltas(v map[string]float64, names []string, table map[string]Metric, period uint64) map[string]uint64 {
	out := make(map[string]uint64, len(names))
	for _, name := range names {
		m, ok := table[name]
		if !ok {
			Fail("no canonical feature for Kepler metric %q", name)
		}
		x := v[m.Canonical] * m.Factor * float64(period)
		if x < 0 || math.IsNaN(x) {
			x = 0
		}
		out[name] = uint64(math.Round(x))
	}
	return out
}

// Print writes the output as one JSON document.
func Print(out Output) {
	enc := json.NewEncoder(report)
	enc.SetIndent("", " ")
	if err := enc.Encode(out); err != nil {
		Fail("writing the output: %v", err)
	}
}

// Fail reports a harness error (not a Kepler outcome) and exits 2.
func Fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "kepler harness: "+format+"\n", args...)
	os.Exit(2)
}

// Relay forwards every request to kms-api unchanged and records it.
type Relay struct {
	api string
	url string
	mu  sync.Mutex
	log []Exchange
}

func newRelay(api string) (*Relay, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &Relay{api: api, url: "http://" + ln.Addr().String()}
	srv := &http.Server{Handler: r, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return r, nil
}

func (r *Relay) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	fwd, err := http.NewRequest(req.Method, r.api+req.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	fwd.Header = req.Header.Clone()
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Do(fwd)
	ex := Exchange{Method: req.Method, Path: req.URL.RequestURI()}
	if json.Valid(body) {
		ex.Body = body
	}
	if err != nil {
		ex.Status = http.StatusBadGateway
		ex.Text = err.Error()
		r.record(ex)
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	ex.Status = resp.StatusCode
	if json.Valid(answer) {
		ex.Answer = answer
	} else {
		ex.Text = fmt.Sprintf("%d bytes of %s", len(answer), resp.Header.Get("Content-Type"))
	}
	r.record(ex)
	for k, vs := range resp.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(answer)
}

func (r *Relay) record(ex Exchange) {
	r.mu.Lock()
	r.log = append(r.log, ex)
	r.mu.Unlock()
}

// Exchanges returns what was recorded so far.
func (r *Relay) Exchanges() []Exchange {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Exchange(nil), r.log...)
}

// AddWatts appends one vector's result: Kepler's absolute energy per component over one period
// (millijoules, as Kepler books it) as watts. Components of a model Kepler did not get
// (out.Models false) are left out: Kepler reports nothing for them.
func (out *Output) AddWatts(millijoules map[string]uint64, period uint64) {
	out.Watts = append(out.Watts, out.watts(millijoules, period))
}

// AddIdleWatts appends one vector's idle energy (Kepler's idle_energy_in_*), as AddWatts does.
func (out *Output) AddIdleWatts(millijoules map[string]uint64, period uint64) {
	out.Idle = append(out.Idle, out.watts(millijoules, period))
}

func (out *Output) watts(millijoules map[string]uint64, period uint64) map[string]float64 {
	watts := map[string]float64{}
	for comp, mj := range millijoules {
		enabled := out.Models["components"]
		if comp == "platform" {
			enabled = out.Models["platform"]
		}
		if enabled {
			watts[comp] = float64(mj) / 1000 / float64(period)
		}
	}
	return watts
}

// KeplerVersion is the version of Kepler's module this program was built with, as its go.mod
// (or -modfile) requires it.
func KeplerVersion() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path == "github.com/sustainable-computing-io/kepler" {
				return dep.Version
			}
		}
	}
	return "unknown"
}
