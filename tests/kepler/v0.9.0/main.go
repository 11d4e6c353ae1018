// Kepler v0.9.0's own model-server client, run against kms-api: the program starts Kepler's
// node power models (pkg/model.CreatePowerEstimatorModels: the requests Kepler sends at start,
// its weight parser and predictor in pkg/model/estimator/local/regressor), then for each usage
// vector fills a pkg/collector/stats.NodeStats with the counter deltas Kepler's collector would
// hold for one sample period and runs Kepler's own pkg/collector/energy.UpdateNodeEnergyMetrics
// (per-second normalisation, x1000 to mW, x period to mJ, idle and dynamic split). The watts
// printed are Kepler's absolute node energy per period (mJ) / 1000 / period, i.e. the rate of
// kepler_node_<component>_joules_total, dynamic plus idle.
//
// Configured as a user configures Kepler: MODEL_SERVER_ENABLE=true, MODEL_SERVER_URL,
// SAMPLE_PERIOD_SEC and CPU_ARCH_OVERRIDE (the simulated node's architecture); with --init-path,
// MODEL_SERVER_ENABLE=false and MODEL_CONFIG's NODE_COMPONENTS_INIT_URL / NODE_TOTAL_INIT_URL.
//
// v0.9.0 takes its metric list from configuration (pkg/config/config.go:660-666), so no eBPF
// stand-in is needed; stubbed are only the hardware probes: components.SetIsSystemCollectionSupported
// and platform.SetIsSystemCollectionSupported (false), Kepler's own switches for "no RAPL, no
// platform meter", the case in which Kepler asks a model server. Nothing of Kepler's is copied.
// Kepler's pkg/sensors/accelerator links NVIDIA's cgo bindings: this program builds with cgo.
package main

import (
	"os"
	"strconv"

	"github.com/sustainable-computing-io/kepler/pkg/collector/energy"
	"github.com/sustainable-computing-io/kepler/pkg/collector/stats"
	"github.com/sustainable-computing-io/kepler/pkg/config"
	"github.com/sustainable-computing-io/kepler/pkg/model"
	"github.com/sustainable-computing-io/kepler/pkg/sensors/components"
	"github.com/sustainable-computing-io/kepler/pkg/sensors/platform"
	"github.com/sustainable-computing-io/kepler/pkg/utils"

	h "kmstest/keplerharness"
)

// Kepler 0.9.0's metric names and their canonical features. cpu time: milliseconds
// (pkg/collector/resourceutilization/bpf/process_bpf_collector.go:45).
var metrics = map[string]h.Metric{
	config.CPUCycle:       {Canonical: "cpu_cycles", Factor: 1},
	config.CPURefCycle:    {Canonical: "cpu_cycles", Factor: 1}, // the cycles counter (process_bpf_collector.go:69-71)
	config.CPUInstruction: {Canonical: "cpu_instructions", Factor: 1},
	config.CacheMiss:      {Canonical: "cache_misses", Factor: 1},
	config.CPUTime:        {Canonical: "cpu_time", Factor: 1000},
	config.PageCacheHit:   {Canonical: "page_cache_hits", Factor: 1},
	config.IRQNetTXLabel:  {Canonical: "irq_net_tx", Factor: 1},
	config.IRQNetRXLabel:  {Canonical: "irq_net_rx", Factor: 1},
	config.IRQBlockLabel:  {Canonical: "irq_block", Factor: 1},
}

// Kepler's energy counters per component: the absolute ones (idle plus dynamic), and their idle part.
var absolute = map[string]string{"package": config.AbsEnergyInPkg, "core": config.AbsEnergyInCore,
	"uncore": config.AbsEnergyInUnCore, "dram": config.AbsEnergyInDRAM, "platform": config.AbsEnergyInPlatform}
var idle = map[string]string{"package": config.IdleEnergyInPkg, "core": config.IdleEnergyInCore,
	"uncore": config.IdleEnergyInUnCore, "dram": config.IdleEnergyInDRAM, "platform": config.IdleEnergyInPlatform}

// booked is what Kepler booked for one period in each component's counter of `counters`.
func booked(node *stats.NodeStats, counters map[string]string) map[string]uint64 {
	out := make(map[string]uint64, len(counters))
	for comp, name := range counters {
		out[comp] = node.EnergyUsage[name].SumAllDeltaValues()
	}
	return out
}

func main() {
	in, relay, rec := h.Start()
	env := map[string]string{
		"MODEL_SERVER_ENABLE": "true",
		"MODEL_SERVER_URL":    relay,
		"SAMPLE_PERIOD_SEC":   strconv.FormatUint(in.Period, 10),
		"CPU_ARCH_OVERRIDE":   in.Arch,
	}
	if h.InitPath != "" { // no model server: the initial model URLs (model.go:176, regressor.go:94-98)
		env["MODEL_SERVER_ENABLE"] = "false"
		env["MODEL_CONFIG"] = "NODE_COMPONENTS_INIT_URL=" + relay + h.InitPath + "intel_rapl" +
			" NODE_TOTAL_INIT_URL=" + relay + h.InitPath + "acpi"
	}
	for k, v := range env {
		os.Setenv(k, v)
	}
	if _, err := config.Initialize(os.TempDir()); err != nil { // no config files: defaults and env
		h.Fail("config: %v", err)
	}
	components.SetIsSystemCollectionSupported(false)
	platform.SetIsSystemCollectionSupported(false)

	features := stats.GetProcessFeatureNames()
	model.CreatePowerEstimatorModels(features)

	out := h.Output{
		Generation: "v0.9.0",
		Models: map[string]bool{
			"components": model.IsNodeComponentPowerModelEnabled(),
			"platform":   model.IsNodePlatformPowerModelEnabled(),
		},
	}
	for _, v := range in.Vectors {
		node := stats.NewNodeStats()
		for name, delta := range h.Deltas(v, features, metrics, in.Period) {
			node.ResourceUsage[name].SetDeltaStat(utils.GenericSocketID, delta)
		}
		energy.UpdateNodeEnergyMetrics(node)
		out.AddWatts(booked(node, absolute), in.Period)
		out.AddIdleWatts(booked(node, idle), in.Period)
	}
	out.Requests = rec.Exchanges()
	h.Print(out)
}
