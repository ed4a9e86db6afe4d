package app

import "testing"

func TestDefaultSIPEndpoint(t *testing.T) {
	tests := []struct{ host, domain, want string }{
		{"gw1", "example.com", "sip:presence_gw1@example.com"},
		{"GW-Prod_2", "corp.example", "sip:presence_gw-prod2@corp.example"},
		{"héllo wörld", "example.com", "sip:presence_hllowrld@example.com"},
	}
	for _, tt := range tests {
		if got := DefaultSIPEndpoint(tt.host, tt.domain); got != tt.want {
			t.Errorf("DefaultSIPEndpoint(%q, %q) = %q, want %q", tt.host, tt.domain, got, tt.want)
		}
	}
}
