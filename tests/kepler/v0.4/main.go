// Kepler v0.4's own model-server client (pkg/model/estimator/local/lr.go, LinearRegressor), run
// against kms-api. The Go module proxy does not serve v0.4 (not a semver tag; v0.4.2-v0.4.11
// are refused): go.mod takes the tag's source exported from Kepler's repository into
// build-kepler-src/v0.4 (see tests/integration/test_kepler_generations.py).
//
// The program calls Kepler's model.InitEstimateFunctions (cmd/exporter.go:161: the four requests
// Kepler sends at start: node total, node components, container total, container components),
// then for each usage vector fills a collector_metric.NodeMetrics with the counter deltas over
// Kepler's 3 s period (v0.4 does not normalise them to per second, model/utils.go:64-71) and
// books what Kepler's collector books (pkg/collector/node_energy_collector.go:40-63):
// model.GetNodeComponentPowers into NodeMetrics.AddNodeComponentsEnergy and
// model.GetEstimatedNodePlatformPower into AddLastestPlatformEnergy. v0.4 books the predictor's
// output as millijoules of the interval, so the watts printed are those mJ / 1000 / 3.
// (AddNodeComponentsEnergy stores the component value as the counter's running total,
// stats.go:76-106, so kepler_node_core_joules_total carries the latest out / 1000, not a sum:
// see kepler-facts.md.)
//
// Stubbed, because eBPF, cgroups and the kubelet cannot be reached by a test: the metric list
// collector_metric.setEnabledMetrics would build (pkg/collector/metric/utils.go:27-62): cpu_time,
// the four hardware counters of the bcc attacher (bcc_attacher.go:57-62), no cgroup metric (v0.4
// lists what the node's cgroup files hold, slice_handler.go:190-199), the two kubelet metrics
// of a Kubernetes node whose kubelet answers (kubelet_pod_lister.go; both stored with
// SetNewAggr, so Kepler hands their change over the period: container_cgroup_collector.go:43-58),
// bytes_read, bytes_writes, block_devices_used. Configuration (read into package variables before
// main runs): config.ModelServerEnable, Kepler's config.SetModelServerEndpoint, and the
// architecture in collector_metric.NodeMetadataValues (what CPU_ARCH_OVERRIDE sets). The period
// is Kepler's constant 3 s (pkg/manager/manager.go:27). Nothing of Kepler's is copied.
package main

import (
	"github.com/sustainable-computing-io/kepler/pkg/bpfassets/attacher"
	collector_metric "github.com/sustainable-computing-io/kepler/pkg/collector/metric"
	"github.com/sustainable-computing-io/kepler/pkg/config"
	"github.com/sustainable-computing-io/kepler/pkg/model"

	h "kmstest/keplerharness"
)

const samplePeriodSec = 3 // pkg/manager/manager.go:27, a constant in v0.4

// Kepler 0.4's metric names and their canonical features: cpu_time counts milliseconds
// (bpfassets/perf_event/perf_event.c:82); the I/O byte counters are not in our samples.
var metrics = map[string]h.Metric{
	config.CPUTime:                {Canonical: "cpu_time", Factor: 1000},
	config.CPUCycle:               {Canonical: "cpu_cycles", Factor: 1},
	config.CPURefCycle:            {Canonical: "cpu_cycles", Factor: 1}, // at nominal frequency
	config.CPUInstruction:         {Canonical: "cpu_instructions", Factor: 1},
	config.CacheMiss:              {Canonical: "cache_misses", Factor: 1},
	config.KubeletContainerCPU:    {Canonical: "cpu_time", Factor: 1}, // whole seconds per period
	config.KubeletContainerMemory: {},                                 // change of a level: 0 when steady
	config.BytesReadIO:            {},
	config.BytesWriteIO:           {},
	config.BlockDevicesIO:         {},
}

func main() {
	in, relay, rec := h.Start()
	if in.Period != samplePeriodSec {
		h.Fail("Kepler v0.4's sample period is the constant %d s, not %d", samplePeriodSec, in.Period)
	}
	config.ModelServerEnable = true
	config.SetModelServerEndpoint(relay + "/model")
	collector_metric.NodeMetadataValues = []string{in.Arch}

	features := []string{config.CPUTime, attacher.CPUCycleLabel, attacher.CPURefCycleLabel,
		attacher.CPUInstructionLabel, attacher.CacheMissLabel,
		config.KubeletContainerCPU, config.KubeletContainerMemory,
		config.BytesReadIO, config.BytesWriteIO, config.BlockDevicesIO}
	collector_metric.ContainerMetricNames = features
	model.InitEstimateFunctions(features, collector_metric.NodeMetadataNames, collector_metric.NodeMetadataValues)

	out := h.Output{
		Generation: "v0.4",
		Models: map[string]bool{
			"components": model.IsNodeComponentPowerModelEnabled(),
			"platform":   model.IsNodePlatformPowerModelEnabled(),
		},
	}
	for _, v := range in.Vectors {
		node := collector_metric.NewNodeMetrics()
		node.ResourceUsage = map[string]float64{}
		for name, delta := range h.Deltas(v, features, metrics, in.Period) {
			node.ResourceUsage[name] = float64(delta)
		}
		if out.Models["components"] {
			node.AddNodeComponentsEnergy(model.GetNodeComponentPowers(*node))
		}
		if out.Models["platform"] {
			node.AddLastestPlatformEnergy(model.GetEstimatedNodePlatformPower(*node))
		}
		out.AddWatts(map[string]uint64{
			"package":  node.EnergyInPkg.Aggr(),
			"core":     node.EnergyInCore.Aggr(),
			"uncore":   node.EnergyInUncore.Aggr(),
			"dram":     node.EnergyInDRAM.Aggr(),
			"platform": node.EnergyInPlatform.Aggr(),
		}, in.Period)
	}
	out.Requests = rec.Exchanges()
	h.Print(out)
}
