package auth

import (
	"fmt"
	"math/bits"
	"strings"
)

// Scope is a set of the things a key may do.
type Scope uint8

// The scopes; their names are the ones the keys command and the api_keys
// table use.
const (
	// ScopeRead allows GetFeatures and DescribeFeatures.
	ScopeRead Scope = 1 << iota
	// ScopeExport allows StreamFeatures, also with compute = true.
	ScopeExport
	// ScopeCompute allows ComputeFeatures.
	ScopeCompute
	// ScopeIngest allows IngestInteractions.
	ScopeIngest
	// ScopePixel allows posting web pixel events. A pixel key is public:
	// it sits in storefront code.
	ScopePixel
)

var scopeNames = [...]string{"read", "export", "compute", "ingest", "pixel"}

// ScopeNames lists every scope's name, in order.
func ScopeNames() []string { return scopeNames[:] }

// ParseScopes reads scope names, refusing unknown and duplicate ones.
func ParseScopes(names []string) (Scope, error) {
	var s Scope
	for _, name := range names {
		i := indexOf(scopeNames[:], strings.TrimSpace(name))
		if i < 0 {
			return 0, fmt.Errorf("unknown scope %q: the scopes are %s", name, strings.Join(scopeNames[:], ", "))
		}
		if s&(1<<i) != 0 {
			return 0, fmt.Errorf("scope %q is given twice", name)
		}
		s |= 1 << i
	}
	return s, nil
}

// Names returns the names of the scopes in s, in order.
func (s Scope) Names() []string {
	out := make([]string, 0, bits.OnesCount8(uint8(s)))
	for i, name := range scopeNames {
		if s&(1<<i) != 0 {
			out = append(out, name)
		}
	}
	return out
}

func (s Scope) String() string { return strings.Join(s.Names(), ",") }

func indexOf(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return -1
}
