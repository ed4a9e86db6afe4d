package status

import "testing"

func TestFromCode(t *testing.T) {
	tests := []struct {
		code int
		want Availability
		idle bool
	}{
		{-5, Unknown, false},
		{-1, Unknown, false},
		{0, Available, false},
		{3500, Available, false},
		{4499, Available, false},
		{4500, Available, true},
		{5999, Available, true},
		{6000, Busy, false},
		{7499, Busy, false},
		{7500, Busy, true},
		{8999, Busy, true},
		{9000, DoNotDisturb, false},
		{11999, DoNotDisturb, false},
		{12000, BeRightBack, false},
		{14999, BeRightBack, false},
		{15000, Away, false},
		{15500, Away, false},
		{17999, Away, false},
		{18000, Offline, false},
		{1 << 30, Offline, false},
	}
	for _, tt := range tests {
		got, idle := FromCode(tt.code)
		if got != tt.want || idle != tt.idle {
			t.Errorf("FromCode(%d) = %v, %v; want %v, %v", tt.code, got, idle, tt.want, tt.idle)
		}
	}
}

func TestCodesRoundTrip(t *testing.T) {
	want := map[Availability]int{
		Available: 3500, Busy: 6000, DoNotDisturb: 9000, BeRightBack: 12000,
		Away: 15500, Offline: 18000, Unknown: -1,
	}
	for a, code := range want {
		if got := a.Code(); got != code {
			t.Errorf("%v.Code() = %d, want %d", a, got, code)
		}
		if back, _ := FromCode(code); back != a {
			t.Errorf("FromCode(%v.Code()) = %v", a, back)
		}
		parsed, ok := ParseAvailability(a.String())
		if !ok || parsed != a {
			t.Errorf("ParseAvailability(%q) = %v, %v", a.String(), parsed, ok)
		}
	}
	if _, ok := ParseAvailability("available"); ok {
		t.Error("ParseAvailability is case-sensitive; lower case must be refused")
	}
	if got := Availability(99).Code(); got != -1 {
		t.Errorf("out-of-range Code() = %d, want -1", got)
	}
}

func TestReasonNames(t *testing.T) {
	want := []string{"", "pending", "domain_not_allowed", "not_found", "not_enabled", "no_capacity", "backend_error"}
	for i, name := range want {
		if got := Reason(i).String(); got != name {
			t.Errorf("Reason(%d) = %q, want %q", i, got, name)
		}
	}
}
