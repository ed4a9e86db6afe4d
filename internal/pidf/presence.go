package pidf

import (
	"strings"

	"github.com/presenced/presenced/internal/status"
)

// activityInfo is what an RPID activity means to presenced: the
// availability it decides (Unknown: it decides nothing) and the Activity
// token it contributes ("" when it only restates the availability).
type activityInfo struct {
	avail status.Availability
	token string
}

// activityTable maps every RFC 4480 §3.2 activity name. "other" is handled
// by otherInfo. docs/pidf.md carries the same table; keep them in step.
var activityTable = map[string]activityInfo{
	"appointment":       {status.Busy, "Appointment"},
	"away":              {status.Away, ""},
	"breakfast":         {status.BeRightBack, "Breakfast"},
	"busy":              {status.Busy, ""},
	"dinner":            {status.BeRightBack, "Dinner"},
	"holiday":           {status.Away, "Holiday"},
	"in-transit":        {status.BeRightBack, "InTransit"},
	"looking-for-work":  {status.Unknown, "LookingForWork"},
	"lunch":             {status.BeRightBack, "Lunch"},
	"meal":              {status.BeRightBack, "Meal"},
	"meeting":           {status.Busy, "InAMeeting"},
	"on-the-phone":      {status.Busy, "OnThePhone"},
	"performance":       {status.Busy, "Performance"},
	"permanent-absence": {status.Away, "PermanentAbsence"},
	"playing":           {status.Unknown, "Playing"},
	"presentation":      {status.Busy, "Presenting"},
	"shopping":          {status.Away, "Shopping"},
	"sleeping":          {status.Away, "Sleeping"},
	"spectator":         {status.Unknown, "Spectator"},
	"steering":          {status.Busy, "Driving"},
	"travel":            {status.Away, "Travel"},
	"tv":                {status.Unknown, "TV"},
	"unknown":           {status.Unknown, ""},
	"vacation":          {status.Away, "Vacation"},
	"working":           {status.Unknown, "Working"},
	"worship":           {status.Unknown, "Worship"},
}

// tokenElement is the reverse of activityTable for the tokens Build can
// write as a dedicated element.
var tokenElement = func() map[string]string {
	m := make(map[string]string)
	for name, info := range activityTable {
		if info.token != "" {
			m[info.token] = name
		}
	}
	return m
}()

// The <rpid:other> texts Build writes for the availabilities RPID has no
// activity for.
const (
	otherDND = "do-not-disturb"
	otherBRB = "be-right-back"
)

// otherInfo interprets the text of an <rpid:other> activity: "dnd" and
// "do not disturb", "brb" and "be right back" (case, spaces, '-' and '_'
// ignored) decide DoNotDisturb and BeRightBack with no token; any other
// text decides nothing and is itself the token.
func otherInfo(text string) activityInfo {
	switch normalize(text) {
	case "dnd", "donotdisturb":
		return activityInfo{status.DoNotDisturb, ""}
	case "brb", "berightback":
		return activityInfo{status.BeRightBack, ""}
	}
	return activityInfo{status.Unknown, text}
}

// normalize lower-cases s and drops spaces, '-' and '_'.
func normalize(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case ' ', '-', '_', '\t', '\n', '\r':
			return -1
		}
		if r >= 'A' && r <= 'Z' {
			return r + ('a' - 'A')
		}
		return r
	}, s)
}

// info returns what a presenced activity means.
func (a Activity) info() activityInfo {
	if a.Name == "other" {
		return otherInfo(a.Text)
	}
	return activityTable[a.Name] // unknown names: zero, decides nothing
}

// rank orders the availabilities a person's activities can decide: when
// several are present the highest wins. BeRightBack outranks Away because
// it is the more specific, short-term state.
func rank(a status.Availability) int {
	switch a {
	case status.DoNotDisturb:
		return 4
	case status.Busy:
		return 3
	case status.BeRightBack:
		return 2
	case status.Away:
		return 1
	}
	return 0
}

// decide applies rule 1 of docs/pidf.md to one set of activities and a
// user-input value: the availability decided (Unknown for none) and the
// Activity token.
func decide(acts []Activity, input UserInput) (status.Availability, string) {
	best := status.Unknown
	for _, a := range acts {
		if av := a.info().avail; rank(av) > rank(best) {
			best = av
		}
	}
	if best == status.Unknown && input == UserInputIdle {
		best = status.Away
	}
	// The token: first from an activity that decided the same
	// availability, else from any activity, else "Idle" for user input.
	for _, a := range acts {
		if in := a.info(); in.avail == best && best != status.Unknown && in.token != "" {
			return best, in.token
		}
	}
	for _, a := range acts {
		if in := a.info(); in.token != "" {
			return best, in.token
		}
	}
	if best == status.Away && input == UserInputIdle {
		return best, "Idle"
	}
	return best, ""
}

// Presence maps the document to presenced's presence value by the rule of
// docs/pidf.md:
//
//  1. The newest person (latest timestamp; document order breaks ties, a
//     missing timestamp is oldest) decides when its activities or its
//     user-input map to an availability: DoNotDisturb over Busy over
//     BeRightBack over Away; user-input idle alone gives Away. Since is the
//     person's timestamp.
//  2. Otherwise the tuples decide: Available when a tuple is open, else
//     Offline — also when there are no tuples (an empty document is what a
//     presence server sends for a presentity with no publication). The
//     chosen tuple is the best open one (highest priority, then newest,
//     then first), or failing that the best of the rest; Since is its
//     timestamp.
//  3. Activity is the decisive activity's token (see docs/pidf.md), else
//     the newest person's first other token. Note is the newest person's
//     first note, else the chosen tuple's, else the document's.
//
// Presence never returns Unknown.
func (d Document) Presence() status.Presence {
	var out status.Presence
	person := -1
	for i, pe := range d.Persons {
		if person < 0 || pe.Timestamp.After(d.Persons[person].Timestamp) {
			person = i
		}
	}
	tuple := d.bestTuple()

	decided := false
	if person >= 0 {
		pe := d.Persons[person]
		out.Availability, out.Activity = decide(pe.Activities, pe.UserInput)
		if out.Availability != status.Unknown {
			decided = true
			out.Since = pe.Timestamp
		}
		if len(pe.Notes) > 0 {
			out.Note = pe.Notes[0]
		}
	}
	if !decided {
		out.Availability = status.Offline
		if tuple >= 0 {
			t := d.Tuples[tuple]
			if t.Basic == BasicOpen {
				out.Availability = status.Available
			}
			out.Since = t.Timestamp
		}
	}
	if out.Note == "" && tuple >= 0 && len(d.Tuples[tuple].Notes) > 0 {
		out.Note = d.Tuples[tuple].Notes[0]
	}
	if out.Note == "" && len(d.Notes) > 0 {
		out.Note = d.Notes[0]
	}
	return out
}

// bestTuple returns the index of the chosen tuple, -1 when there is none:
// open before closed before no basic, then highest priority, then newest
// timestamp, then document order.
func (d Document) bestTuple() int {
	basicRank := func(b Basic) int {
		switch b {
		case BasicOpen:
			return 2
		case BasicClosed:
			return 1
		}
		return 0
	}
	best := -1
	for i, t := range d.Tuples {
		if best < 0 {
			best = i
			continue
		}
		b := d.Tuples[best]
		switch {
		case basicRank(t.Basic) != basicRank(b.Basic):
			if basicRank(t.Basic) > basicRank(b.Basic) {
				best = i
			}
		case t.Priority != b.Priority:
			if t.Priority > b.Priority {
				best = i
			}
		case t.Timestamp.After(b.Timestamp):
			best = i
		}
	}
	return best
}
