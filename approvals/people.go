package approvals

import (
	"fmt"
	"strings"
)

// Person is one human from the people: section of the config, with the
// platform accounts they act from.
type Person struct {
	Name    string // the person id used for authorization and counting
	Email   string
	Slack   string // Slack user id, U…
	Discord string // Discord user id (snowflake)
}

// Directory maps platform accounts to people, so that someone acting from
// two accounts is counted once.
type Directory struct {
	byName    map[string]Person
	byEmail   map[string]Person
	bySlack   map[string]Person
	byDiscord map[string]Person
}

// NewDirectory indexes people and refuses duplicates: two entries claiming
// the same name, e-mail or platform account would let one human count twice.
func NewDirectory(people []Person) (*Directory, error) {
	d := &Directory{
		byName:    map[string]Person{},
		byEmail:   map[string]Person{},
		bySlack:   map[string]Person{},
		byDiscord: map[string]Person{},
	}
	for i, p := range people {
		if p.Name == "" {
			return nil, fmt.Errorf("people[%d]: name is empty", i)
		}
		for _, k := range []struct {
			m     map[string]Person
			field string
			key   string
		}{
			{d.byName, "name", p.Name},
			{d.byEmail, "email", strings.ToLower(p.Email)},
			{d.bySlack, "slack", p.Slack},
			{d.byDiscord, "discord", p.Discord},
		} {
			if k.key == "" {
				continue
			}
			if prev, dup := k.m[k.key]; dup {
				return nil, fmt.Errorf("people[%d] (%s): %s %q is already used by %s", i, p.Name, k.field, k.key, prev.Name)
			}
			k.m[k.key] = p
		}
	}
	return d, nil
}

// Platforms Lookup understands.
const (
	PlatformSlack   = "slack"
	PlatformDiscord = "discord"
	PlatformConsole = "console"
)

// Lookup finds the person behind a platform account. For Slack the account
// id is tried first, then the e-mail Slack reports for it (verified by
// Slack, never typed by the user). The console identifies people by name.
func (d *Directory) Lookup(platform, account, email string) (Person, bool) {
	var p Person
	var ok bool
	switch platform {
	case PlatformSlack:
		if p, ok = d.bySlack[account]; !ok && email != "" {
			p, ok = d.byEmail[strings.ToLower(email)]
		}
	case PlatformDiscord:
		p, ok = d.byDiscord[account]
	case PlatformConsole:
		p, ok = d.byName[account]
	}
	return p, ok
}

// Person returns the person with the given name.
func (d *Directory) Person(name string) (Person, bool) {
	p, ok := d.byName[name]
	return p, ok
}

// People returns every person, in no particular order.
func (d *Directory) People() []Person {
	out := make([]Person, 0, len(d.byName))
	for _, p := range d.byName {
		out = append(out, p)
	}
	return out
}
