package app

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/presenced/presenced/internal/admin"
	"github.com/presenced/presenced/internal/config"
	"github.com/presenced/presenced/internal/probe"
)

// backendView is the dashboard's backend page: the backend's and the
// directory's settings (secrets redacted) and their real checks.
func backendView(cfg config.Config) admin.BackendView {
	red := cfg.Redacted()
	var fields []admin.Field
	for _, k := range slices.Sorted(maps.Keys(red)) {
		inBackend := k == "backend.kind" || k == "backend.endpoints" || k == "backend.max_subscriptions_per_endpoint" ||
			strings.HasPrefix(k, "backend."+cfg.Backend.Kind+".")
		if inBackend || cfg.Directory.Kind != "" && strings.HasPrefix(k, "directory.") {
			fields = append(fields, admin.Field{Name: k, Value: fmt.Sprint(red[k])})
		}
	}
	return admin.BackendView{
		Kind:   cfg.Backend.Kind,
		Fields: fields,
		Test: func(ctx context.Context) []probe.Step {
			var steps []probe.Step
			switch cfg.Backend.Kind {
			case config.BackendSIP:
				steps = probe.SIP(ctx, cfg.Backend.SIP, endpointIDs(cfg)[0]).Steps
			case config.BackendXMPP:
				for _, c := range cfg.Backend.XMPP.Clusters {
					for _, st := range probe.XMPP(ctx, c).Steps {
						st.Name = c.Name + ": " + st.Name
						steps = append(steps, st)
					}
				}
			default:
				steps = []probe.Step{{Name: "native backend", OK: true, Detail: "presenced holds presence itself: nothing to reach"}}
			}
			if cfg.Directory.Kind == config.DirectoryLDAP {
				for _, st := range probe.LDAP(ctx, cfg.Directory.LDAP).Steps {
					st.Name = "directory: " + st.Name
					steps = append(steps, st)
				}
			}
			return steps
		},
	}
}
