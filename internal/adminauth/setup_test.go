package adminauth

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestSetupToken(t *testing.T) {
	type step struct {
		advance  time.Duration
		token    string // "" uses the issued token
		name, pw string
		want     error
	}
	ok := func(name string) step { return step{name: name, pw: goodPassword} }
	tests := []struct {
		name  string
		steps []step
	}{
		{"one-time use", []step{ok("admin"), {name: "second", pw: goodPassword, want: ErrSetupToken}}},
		{"wrong token", []step{{token: SetupTokenPrefix + "nope", name: "admin", pw: goodPassword, want: ErrSetupToken}, ok("admin")}},
		{"refused password keeps the token", []step{{name: "admin", pw: "short", want: ErrPasswordTooShort}, ok("admin")}},
		{"refused name keeps the token", []step{{name: "bad name", pw: goodPassword, want: ErrInvalidName}, ok("admin")}},
		{"valid just under 24 h", []step{{advance: 24*time.Hour - time.Second, name: "admin", pw: goodPassword}}},
		{"expires after 24 h", []step{{advance: 24 * time.Hour, name: "admin", pw: goodPassword, want: ErrSetupToken}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, Config{})
			token, err := f.m.SetupToken(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			for i, st := range tt.steps {
				f.clk.Advance(st.advance)
				tok := token
				if st.token != "" {
					tok = st.token
				}
				_, err := f.m.CreateFirst(context.Background(), tok, st.name, st.pw)
				if !errors.Is(err, st.want) || (err != nil) != (st.want != nil) {
					t.Fatalf("step %d: CreateFirst error = %v, want %v", i, err, st.want)
				}
			}
		})
	}
}

func TestSetupTokenCreatesUsableAccount(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, Config{})
	token, err := f.m.SetupToken(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(token, SetupTokenPrefix) || len(token) != len(SetupTokenPrefix)+secretLen {
		t.Errorf("token %q: want %s followed by %d characters", token, SetupTokenPrefix, secretLen)
	}
	if strings.Contains(f.log.String(), token) {
		t.Error("the setup token was logged")
	}
	acct, err := f.m.CreateFirst(ctx, token, "admin", goodPassword)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Account{Name: "admin", Hash: acct.Hash, CreatedAt: t0}, acct); diff != "" {
		t.Errorf("account (-want +got):\n%s", diff)
	}
	if _, err := f.m.Authenticate(ctx, "admin", goodPassword, ip1); err != nil {
		t.Errorf("login with the first account: %v", err)
	}
	if _, err := f.m.SetupToken(ctx); !errors.Is(err, ErrSetupDone) {
		t.Errorf("SetupToken once an account exists: %v, want ErrSetupDone", err)
	}
}

func TestSetupTokenRefusedOnceAccountExists(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, Config{})
	token, err := f.m.SetupToken(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f.addAccount(t, "cli-made") // e.g. by the CLI command meanwhile
	if _, err := f.m.CreateFirst(ctx, token, "admin", goodPassword); !errors.Is(err, ErrSetupDone) {
		t.Errorf("CreateFirst with an account present: %v, want ErrSetupDone", err)
	}
	if _, err := f.m.CreateFirst(ctx, token, "admin", goodPassword); !errors.Is(err, ErrSetupToken) {
		t.Errorf("CreateFirst again: %v, want ErrSetupToken (token dropped)", err)
	}
}

func TestNewSetupTokenReplacesOld(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, Config{})
	first, err := f.m.SetupToken(ctx)
	if err != nil {
		t.Fatal(err)
	}
	second, err := f.m.SetupToken(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.m.CreateFirst(ctx, first, "admin", goodPassword); !errors.Is(err, ErrSetupToken) {
		t.Errorf("old token: %v, want ErrSetupToken", err)
	}
	if _, err := f.m.CreateFirst(ctx, second, "admin", goodPassword); err != nil {
		t.Errorf("new token: %v", err)
	}
}
