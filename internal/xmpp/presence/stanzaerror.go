package presence

import "encoding/xml"

// errorTypes are the error types of RFC 6120 §8.3.2.
var errorTypes = map[string]bool{
	"auth": true, "cancel": true, "continue": true, "modify": true, "wait": true,
}

// conditions are the defined conditions of RFC 6120 §8.3.3. Others read as
// undefined-condition, so that Condition has bounded values.
var conditions = map[string]bool{
	"bad-request": true, "conflict": true, "feature-not-implemented": true,
	"forbidden": true, "gone": true, "internal-server-error": true,
	"item-not-found": true, "jid-malformed": true, "not-acceptable": true,
	"not-allowed": true, "not-authorized": true, "policy-violation": true,
	"recipient-unavailable": true, "redirect": true,
	"registration-required": true, "remote-server-not-found": true,
	"remote-server-timeout": true, "resource-constraint": true,
	"service-unavailable": true, "subscription-required": true,
	"undefined-condition": true, "unexpected-request": true,
}

// stanzaError reads the first <error/> of a type=error stanza. Conditions
// are accepted in the stanzas namespace or in none.
func (d *decoder) stanzaError(t xml.StartElement) error {
	if d.haveError {
		return d.skip()
	}
	d.haveError = true
	for _, a := range t.Attr {
		if a.Name.Space == "" && a.Name.Local == "type" && errorTypes[a.Value] {
			d.s.Error.Type = a.Value
		}
	}
	for inner := d.depth; ; {
		tok, err := d.next()
		if err != nil {
			return err
		}
		if d.depth < inner {
			return nil
		}
		c, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		if err := d.errorChild(c); err != nil {
			return err
		}
	}
}

// errorChild reads one child of <error/>, whose start was just read.
func (d *decoder) errorChild(c xml.StartElement) error {
	if c.Name.Space != NSStanzas && c.Name.Space != "" {
		return d.skip()
	}
	if c.Name.Local == "text" {
		v, err := d.readText()
		if err == nil && d.s.Error.Text == "" {
			d.s.Error.Text = d.cut(v)
		}
		return err
	}
	if d.s.Error.Condition == "" {
		d.s.Error.Condition = "undefined-condition"
		if conditions[c.Name.Local] {
			d.s.Error.Condition = c.Name.Local
		}
	}
	return d.skip()
}
