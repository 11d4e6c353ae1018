module kmstest/kepler-v0.9.0

go 1.22

require (
	github.com/sustainable-computing-io/kepler v0.9.0
	kmstest/keplerharness v0.0.0-00010101000000-000000000000
)

require (
	github.com/HabanaAI/gohlml v1.16.0 // indirect
	github.com/Masterminds/semver v1.5.0 // indirect
	github.com/NVIDIA/go-dcgm v0.0.0-20240118201113-3385e277e49f // indirect
	github.com/NVIDIA/go-nvml v0.12.0-1 // indirect
	github.com/StackExchange/wmi v1.2.1 // indirect
	github.com/bits-and-blooms/bitset v1.13.0 // indirect
	github.com/cilium/ebpf v0.16.0 // indirect
	github.com/davecgh/go-spew v1.1.2-0.20180830191138-d8f796af33cc // indirect
	github.com/go-logr/logr v1.4.2 // indirect
	github.com/go-ole/go-ole v1.2.6 // indirect
	github.com/jaypipes/ghw v0.13.0 // indirect
	github.com/jaypipes/pcidb v1.0.1 // indirect
	github.com/klauspost/cpuid/v2 v2.2.8 // indirect
	github.com/mitchellh/go-homedir v1.1.0 // indirect
	github.com/pkg/errors v0.9.1 // indirect
	github.com/pmezard/go-difflib v1.0.1-0.20181226105442-5d4384ee4fb2 // indirect
	github.com/shirou/gopsutil v3.21.11+incompatible // indirect
	github.com/stretchr/testify v1.9.0 // indirect
	github.com/tklauser/go-sysconf v0.3.14 // indirect
	github.com/tklauser/numcpus v0.8.0 // indirect
	github.com/yusufpapurcu/wmi v1.2.4 // indirect
	golang.org/x/exp v0.0.0-20240719175910-8a7402abbf56 // indirect
	golang.org/x/sys v0.30.0 // indirect
	gopkg.in/yaml.v3 v3.0.1 // indirect
	howett.net/plist v1.0.0 // indirect
	k8s.io/apimachinery v0.29.9 // indirect
	k8s.io/klog/v2 v2.130.1 // indirect
)

replace kmstest/keplerharness => ../harness
