package ldap

import (
	"context"
	"fmt"
	"strings"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/presenced/presenced/internal/directory"
)

// opAuthenticate is Authenticate's op label.
const opAuthenticate = "authenticate"

// The attributes Authenticate reads besides Config.Attributes: AD's names,
// not configurable.
const (
	upnAttribute      = "userPrincipalName"
	memberOfAttribute = "memberOf"
)

var _ directory.Authenticator = (*Directory)(nil)

// Authenticate checks that login names one user entry whose password is
// password and that the entry is a member of the group with DN group (see
// directory.Authenticator), in three steps under one Timeout:
//
//  1. On a pooled connection (the service account), a subtree search of
//     the search base for the entries of ObjectFilter whose mail or
//     sAMAccountName (Config.Attributes' names) or userPrincipalName is
//     login, escaped (RFC 4515). None, or more than one, is
//     ErrBadCredentials.
//  2. A simple bind as the entry's DN on a connection of its own, closed
//     at once: binding a pooled connection would change its identity.
//     invalidCredentials (49) is ErrBadCredentials; the bind is made once,
//     on the first server that answers, so one wrong password counts once
//     against AD's lockout threshold.
//  3. On a pooled connection, a base search of group for a member or
//     uniqueMember equal to the entry's DN (distinguishedNameMatch on the
//     server), and failing that the entry's memberOf values parsed and
//     compared with group case-insensitively. A group that does not exist
//     (or that the service account cannot read) has no members, and is
//     logged at Warn.
//
// An empty password, a login longer than directory.MaxLogin or a password
// longer than directory.MaxPassword is ErrBadCredentials before any query.
// The password is never logged or put in an error; neither is login. The
// request metrics record op "authenticate" with the results
// bad_credentials and not_member for the refusals.
func (d *Directory) Authenticate(ctx context.Context, login, password, group string) (directory.Account, error) {
	var acct directory.Account
	var err error
	d.observe(opAuthenticate, func() error {
		acct, err = d.authenticate(ctx, login, password, group)
		return err
	})
	return acct, err
}

// authenticate is Authenticate without the metrics.
func (d *Directory) authenticate(ctx context.Context, login, password, group string) (directory.Account, error) {
	switch {
	case password == "":
		// Never bind with it: an unauthenticated bind succeeds.
		return directory.Account{}, fmt.Errorf("%w: empty password", directory.ErrBadCredentials)
	case login == "", len(login) > directory.MaxLogin, len(password) > directory.MaxPassword:
		return directory.Account{}, fmt.Errorf("%w: login must be 1..%d bytes and password at most %d",
			directory.ErrBadCredentials, directory.MaxLogin, directory.MaxPassword)
	case strings.ContainsRune(login, 0):
		// slapd would end the assertion value at the NUL.
		return directory.Account{}, fmt.Errorf("%w: login holds NUL", directory.ErrBadCredentials)
	}
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	user, err := d.findLogin(ctx, login)
	if err != nil {
		return directory.Account{}, err
	}
	if err := d.pool.bindAs(ctx, user.DN, password); err != nil {
		if goldap.IsErrorWithCode(err, goldap.LDAPResultInvalidCredentials) {
			return directory.Account{}, fmt.Errorf("%w: the directory refused the password of %s", directory.ErrBadCredentials, user.DN)
		}
		return directory.Account{}, fmt.Errorf("ldap authenticate at %s: bind as the user: %w", d.servers, err)
	}
	member, err := d.isMember(ctx, user, group)
	if err != nil {
		return directory.Account{}, err
	}
	if !member {
		return directory.Account{}, fmt.Errorf("%w: %s is not a member of %s", directory.ErrNotMember, user.DN, group)
	}
	a := d.cfg.Attributes
	return directory.Account{
		DN:             user.DN,
		Mail:           user.GetEqualFoldAttributeValue(a.Mail),
		SAMAccountName: user.GetEqualFoldAttributeValue(a.SAMAccountName),
	}, nil
}

// findLogin returns the one entry of ObjectFilter that login names, with
// its mail, sAMAccountName and memberOf values, or ErrBadCredentials when
// none or several do.
func (d *Directory) findLogin(ctx context.Context, login string) (*goldap.Entry, error) {
	a := d.cfg.Attributes
	var entries []*goldap.Entry
	err := d.do(ctx, opAuthenticate, func(ctx context.Context, c *goldap.Conn) error {
		base, err := d.baseDN(ctx, c)
		if err != nil {
			return err
		}
		req := goldap.NewSearchRequest(base, goldap.ScopeWholeSubtree, goldap.NeverDerefAliases,
			2, timeLimit(ctx), false, loginFilter(d.cfg.ObjectFilter, a, login),
			[]string{a.Mail, a.SAMAccountName, memberOfAttribute}, nil)
		res, err := c.Search(req)
		if err != nil && !(goldap.IsErrorWithCode(err, goldap.LDAPResultSizeLimitExceeded) && res != nil && len(res.Entries) > 0) {
			return fmt.Errorf("search %s: %w", base, err)
		}
		entries = res.Entries
		return nil
	})
	switch {
	case err != nil:
		return nil, err
	case len(entries) == 0:
		return nil, fmt.Errorf("%w: no entry has the login", directory.ErrBadCredentials)
	case len(entries) > 1:
		d.log.Warn("several entries have one login; refusing it", "entries", len(entries))
		return nil, fmt.Errorf("%w: several entries have the login", directory.ErrBadCredentials)
	}
	return entries[0], nil
}

// loginFilter returns the filter of the entries among objects whose mail,
// sAMAccountName or userPrincipalName is login. Metacharacters in login
// are escaped (RFC 4515), so they match themselves.
func loginFilter(objects string, a Attributes, login string) string {
	l := goldap.EscapeFilter(login)
	return "(&" + objects + "(|(" + a.Mail + "=" + l + ")(" + a.SAMAccountName + "=" + l + ")(" +
		upnAttribute + "=" + l + ")))"
}

// isMember reports whether user is a member of group: listed in its member
// or uniqueMember values, or group among user's memberOf values. A group
// that is no DN, does not exist or cannot be read has no members.
func (d *Directory) isMember(ctx context.Context, user *goldap.Entry, group string) (bool, error) {
	groupDN, err := goldap.ParseDN(group)
	if err != nil || len(groupDN.RDNs) == 0 {
		d.log.Warn("the group is not a DN; nobody is a member", "group", group)
		return false, nil
	}
	var exists, listed bool
	err = d.do(ctx, opAuthenticate, func(ctx context.Context, c *goldap.Conn) error {
		dn := goldap.EscapeFilter(user.DN)
		req := goldap.NewSearchRequest(group, goldap.ScopeBaseObject, goldap.NeverDerefAliases,
			1, timeLimit(ctx), false, "(|(member="+dn+")(uniqueMember="+dn+"))", []string{"1.1"}, nil)
		res, err := c.Search(req)
		switch {
		case goldap.IsErrorWithCode(err, goldap.LDAPResultNoSuchObject):
			exists, listed = false, false
			return nil
		case err != nil:
			return fmt.Errorf("search group %s: %w", group, err)
		}
		exists, listed = true, len(res.Entries) > 0
		return nil
	})
	switch {
	case err != nil:
		return false, err
	case !exists:
		d.log.Warn("the group does not exist or the service account cannot read it; nobody is a member", "group", group)
		return false, nil
	case listed:
		return true, nil
	}
	for _, v := range user.GetEqualFoldAttributeValues(memberOfAttribute) {
		if dn, err := goldap.ParseDN(v); err == nil && dn.EqualFold(groupDN) {
			return true, nil
		}
	}
	return false, nil
}
