package app

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDefaultSIPEndpoints(t *testing.T) {
	tests := []struct {
		host, domain string
		n            int
		want         []string
	}{
		{"gw1", "example.com", 1, []string{"sip:presence_gw1@example.com"}},
		{"GW-Prod_2", "corp.example", 1, []string{"sip:presence_gw-prod2@corp.example"}},
		{"héllo wörld", "example.com", 1, []string{"sip:presence_hllowrld@example.com"}},
		{"gw1", "example.com", 3, []string{"sip:presence_gw1@example.com", "sip:presence_gw1-01@example.com", "sip:presence_gw1-02@example.com"}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, DefaultSIPEndpoints(tt.host, tt.domain, tt.n)); diff != "" {
			t.Errorf("DefaultSIPEndpoints(%q, %q, %d) (-want +got):\n%s", tt.host, tt.domain, tt.n, diff)
		}
	}
}
