package ldap

import (
	"context"
	"testing"

	"github.com/presenced/presenced/internal/directory/directorytest"
	"github.com/presenced/presenced/internal/directory/slapdtest"
)

// TestConformance runs the directory contract's suite against a Directory
// on one slapd (domain-controller view); the suite's users are added with
// ldapadd while it runs, their Address in msRTCSIP-PrimaryUserAddress.
func TestConformance(t *testing.T) {
	srv := slapdtest.Start(t, slapdtest.Options{})
	directorytest.Run(t, func(t *testing.T) directorytest.Harness {
		d := newDirectory(t, srv, nil)
		return directorytest.Harness{
			Directory: d,
			AddUsers: func(_ context.Context, users []directorytest.User) error {
				srv.AddUsers(t, slapdUsers(users))
				return nil
			},
		}
	})
}

// slapdUsers converts the suite's users to slapdtest's.
func slapdUsers(users []directorytest.User) []slapdtest.User {
	out := make([]slapdtest.User, len(users))
	for i, u := range users {
		out[i] = slapdtest.User{
			SAMAccountName: u.SAMAccountName, Mail: u.Mail, ProxyAddresses: u.ProxyAddresses,
			DisplayName: u.DisplayName, GivenName: u.GivenName, SN: u.SN, Title: u.Title,
			TelephoneNumber: u.TelephoneNumber, Mobile: u.Mobile,
			SIPAddress: u.Address, SIPEnabled: u.Enabled,
		}
	}
	return out
}
