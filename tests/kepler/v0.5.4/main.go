// Kepler's own LinearRegressor (pkg/model/estimator/local/lr.go) of v0.5.4, from the Go module
// proxy (the only release of the 0.5.x-0.7.2 generation it serves: v0.5.5, v0.6.x, v0.7.1 and
// v0.7.2 are refused), run against kms-api.
//
// The program starts Kepler's power models (pkg/model.CreatePowerEstimatorModels: the requests
// Kepler sends at start), then for each usage vector fills a pkg/collector/metric.NodeMetrics
// with the per-period counter deltas Kepler's collector aggregates from its containers and calls
// what Kepler's collector calls, in its order (pkg/collector/node_energy_collector.go:113-121):
// model.UpdateNodeComponentEnergy when model.IsNodeComponentPowerModelEnabled(), then
// model.UpdateNodePlatformEnergy when model.IsNodePlatformPowerModelEnabled(). The watts printed
// are Kepler's absolute node energy per period (mJ) / 1000 / period.
//
// Stubbed, because eBPF and the kubelet cannot be reached by a test:
//   - the metric list pkg/collector/metric.InitAvailableParamAndMetrics would build
//     (stats.go:36-49, utils.go:41-71): eBPF counters from Kepler's own attacher.GetEnabledBPFCounters,
//     the four hardware counters of the bcc attacher (bcc_attacher.go:62-67; the stub Kepler builds
//     without the bcc tag enables none), the nine cgroupfs metrics (stats.go:39-43), the two kubelet
//     metrics of a Kubernetes node whose kubelet answers (kubelet_pod_lister.go:175-186),
//     block_devices_used (twice, as Kepler sends it);
//   - the hardware probes: components.SetIsSystemCollectionSupported and
//     platform.SetIsSystemCollectionSupported (false), Kepler's own switches for "no RAPL, no
//     platform meter", the case in which Kepler asks a model server.
//
// Configuration: these releases read MODEL_SERVER_ENABLE and MODEL_SERVER_URL into package
// variables before main runs, so the program sets config.ModelServerEnable and calls Kepler's
// config.SetModelServerEndpoint; the architecture is passed where cmd/exporter.go passes
// collector_metric.NodeMetadataFeatureValues. The sample period is config.SamplePeriodSec: a
// constant 3 s in 0.5.x, SAMPLE_PERIOD_SEC (read at start-up, so set it in this program's
// environment) in 0.6; an input with another period is refused. Nothing of Kepler's is copied.
package main

import (
	"github.com/sustainable-computing-io/kepler/pkg/bpfassets/attacher"
	collector_metric "github.com/sustainable-computing-io/kepler/pkg/collector/metric"
	"github.com/sustainable-computing-io/kepler/pkg/config"
	"github.com/sustainable-computing-io/kepler/pkg/model"
	"github.com/sustainable-computing-io/kepler/pkg/power/components"
	"github.com/sustainable-computing-io/kepler/pkg/power/platform"

	h "kmstest/keplerharness"
)

// Kepler's metric names (0.5.4: cpu_time, cpu_instr, irq_*; 0.5.5 and 0.6: bpf_cpu_time_us,
// cpu_instructions, bpf_*_irq) and their canonical features. The cpu time counts milliseconds (bpfassets/libbpf/src/kepler.bpf.c:61, perf_event/perf_event.c:87); cgroupfs
// cpu is in microseconds; the cgroupfs memory and I/O metrics are deltas of gauges over the
// period, 0 for a node in a steady state. No name here carries a memory level.
var metrics = map[string]h.Metric{
	config.CPUTime:              {Canonical: "cpu_time", Factor: 1000},
	config.IRQNetTXLabel:        {Canonical: "irq_net_tx", Factor: 1},
	config.IRQNetRXLabel:        {Canonical: "irq_net_rx", Factor: 1},
	config.IRQBlockLabel:        {Canonical: "irq_block", Factor: 1},
	config.CPUCycle:             {Canonical: "cpu_cycles", Factor: 1},
	config.CPURefCycle:          {Canonical: "cpu_cycles", Factor: 1}, // at nominal frequency
	config.CPUInstruction:       {Canonical: "cpu_instructions", Factor: 1},
	config.CacheMiss:            {Canonical: "cache_misses", Factor: 1},
	config.CgroupfsMemory:       {},
	config.CgroupfsKernelMemory: {},
	config.CgroupfsTCPMemory:    {},
	config.CgroupfsCPU:          {Canonical: "cpu_time", Factor: 1e6},
	config.CgroupfsSystemCPU:    {},
	config.CgroupfsUserCPU:      {Canonical: "cpu_time", Factor: 1e6},
	config.CgroupfsReadIO:       {},
	config.CgroupfsWriteIO:      {},
	config.BlockDevicesIO:       {},
	// kubelet readings stored with SetNewAggr (container_cgroup_collector.go:71-74): changes
	config.KubeletContainerCPU:    {Canonical: "cpu_time", Factor: 1}, // whole seconds per period
	config.KubeletContainerMemory: {},
}

func main() {
	generation := h.KeplerVersion()
	in, relay, rec := h.Start()
	if in.Period != uint64(config.SamplePeriodSec) {
		h.Fail("Kepler %s's sample period is %d s, not %d", generation, config.SamplePeriodSec, in.Period)
	}
	config.ModelServerEnable = true
	config.SetModelServerEndpoint(relay + "/model")
	components.SetIsSystemCollectionSupported(false)
	platform.SetIsSystemCollectionSupported(false)

	features := append([]string{}, attacher.GetEnabledBPFCounters()...)
	features = append(features, attacher.CPUCycleLabel, attacher.CPURefCycleLabel,
		attacher.CPUInstructionLabel, attacher.CacheMissLabel)
	features = append(features, config.CgroupfsMemory, config.CgroupfsKernelMemory, config.CgroupfsTCPMemory,
		config.CgroupfsCPU, config.CgroupfsSystemCPU, config.CgroupfsUserCPU,
		config.CgroupfsReadIO, config.CgroupfsWriteIO, config.BlockDevicesIO)
	features = append(features, config.KubeletContainerCPU, config.KubeletContainerMemory)
	features = append(features, config.BlockDevicesIO) // a second time, as utils.go:70 appends it
	collector_metric.ContainerFeaturesNames = features
	model.CreatePowerEstimatorModels(features, collector_metric.NodeMetadataFeatureNames, []string{in.Arch})

	out := h.Output{
		Generation: generation,
		Models: map[string]bool{
			"components": model.IsNodeComponentPowerModelEnabled(),
			"platform":   model.IsNodePlatformPowerModelEnabled(),
		},
	}
	for _, v := range in.Vectors {
		node := collector_metric.NewNodeMetrics()
		for name, delta := range h.Deltas(v, features, metrics, in.Period) {
			node.ResourceUsage[name] = float64(delta)
		}
		if out.Models["components"] {
			model.UpdateNodeComponentEnergy(node)
		}
		if out.Models["platform"] {
			model.UpdateNodePlatformEnergy(node)
		}
		out.AddWatts(map[string]uint64{
			"package":  node.AbsEnergyInPkg.SumAllDeltaValues(),
			"core":     node.AbsEnergyInCore.SumAllDeltaValues(),
			"uncore":   node.AbsEnergyInUncore.SumAllDeltaValues(),
			"dram":     node.AbsEnergyInDRAM.SumAllDeltaValues(),
			"platform": node.AbsEnergyInPlatform.SumAllDeltaValues(),
		}, in.Period)
	}
	out.Requests = rec.Exchanges()
	h.Print(out)
}
