package api

import (
	"math"
	"testing"
)

// TestJSNumber pins numbers to what JavaScript's String(n) prints (checked in node 20).
func TestJSNumber(t *testing.T) {
	for f, want := range map[float64]string{
		0: "0", 1: "1", -2: "-2", 0.1: "0.1", 3e-4: "0.0003", 1e-6: "0.000001", 1.5e-7: "1.5e-7", 1e-7: "1e-7",
		123456789012: "123456789012", 1e20: "100000000000000000000", 1e21: "1e+21", 1.25e22: "1.25e+22",
		0.30000000000000004: "0.30000000000000004", 2.5: "2.5", -1e-9: "-1e-9", 5e-324: "5e-324",
		1.7976931348623157e308: "1.7976931348623157e+308", 100: "100", 12.5e3: "12500",
	} {
		if got := jsNumber(f); got != want {
			t.Errorf("jsNumber(%v) = %q, want %q", f, got, want)
		}
	}
	if jsNumber(math.Inf(-1)) != "-Infinity" {
		t.Error("-Inf")
	}
}
