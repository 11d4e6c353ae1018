module kmstest/keplerharness

go 1.22
