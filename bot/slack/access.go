package slackbot

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/bot"
)

// maxCached bounds a cache; past it the cache starts over.
const maxCached = 10_000

// cache keeps values for a while.
type cache[V any] struct {
	ttl time.Duration
	now func() time.Time
	mu  sync.Mutex
	m   map[string]cached[V]
}

type cached[V any] struct {
	v  V
	at time.Time
}

func newCache[V any](ttl time.Duration, now func() time.Time) *cache[V] {
	return &cache[V]{ttl: ttl, now: now, m: map[string]cached[V]{}}
}

// get returns the cached value of key or loads and caches it.
func (c *cache[V]) get(key string, load func() (V, error)) (V, error) {
	c.mu.Lock()
	e, ok := c.m[key]
	c.mu.Unlock()
	if ok && c.now().Sub(e.at) < c.ttl {
		return e.v, nil
	}
	v, err := load()
	if err != nil {
		return v, err
	}
	c.mu.Lock()
	if len(c.m) >= maxCached {
		c.m = map[string]cached[V]{}
	}
	c.m[key] = cached[V]{v: v, at: c.now()}
	c.mu.Unlock()
	return v, nil
}

// userInfo returns the Slack profile of id (users.info, cached).
func (a *Adapter) userInfo(ctx context.Context, id string) (slack.User, error) {
	return a.users.get("id:"+id, func() (slack.User, error) {
		var u *slack.User
		err := a.call(ctx, "users.info", func() error {
			var err error
			u, err = a.api.GetUserInfoContext(ctx, id)
			return err
		})
		if err != nil {
			return slack.User{}, err
		}
		return *u, nil
	})
}

// user builds the neutral user of a Slack user id from its profile: the
// e-mail Slack verified, and Restricted for deleted accounts, bots, guests
// and restricted accounts, which never act.
func (a *Adapter) user(ctx context.Context, id string) (bot.User, error) {
	u, err := a.userInfo(ctx, id)
	if err != nil {
		return bot.User{}, err
	}
	name := u.Profile.DisplayName
	if name == "" {
		name = u.RealName
	}
	if name == "" {
		name = u.Name
	}
	return bot.User{
		Platform:   bot.PlatformSlack,
		ID:         u.ID,
		Name:       name,
		Email:      u.Profile.Email,
		Restricted: u.Deleted || u.IsBot || u.IsRestricted || u.IsUltraRestricted || u.ID == "USLACKBOT",
	}, nil
}

// groupMembers returns the members of user group id (cached).
func (a *Adapter) groupMembers(ctx context.Context, id string) ([]string, error) {
	return a.group.get(id, func() ([]string, error) {
		var m []string
		err := a.call(ctx, "usergroups.users.list", func() error {
			var err error
			m, err = a.api.GetUserGroupMembersContext(ctx, id, slack.GetUserGroupMembersOptionIncludeDisabled(false))
			return err
		})
		return m, err
	})
}

// listed reports whether user id is in ids, directly or through a user
// group (S…) in ids.
func (a *Adapter) listed(ctx context.Context, id string, ids []string) (bool, error) {
	if slices.Contains(ids, id) {
		return true, nil
	}
	for _, g := range ids {
		if !strings.HasPrefix(g, "S") {
			continue
		}
		members, err := a.groupMembers(ctx, g)
		if err != nil {
			return false, fmt.Errorf("reading user group %s: %w", g, err)
		}
		if slices.Contains(members, id) {
			return true, nil
		}
	}
	return false, nil
}

// Person implements bot.Access: a Slack account is the person whose
// people: entry names its user id, or else whose e-mail Slack verified for
// it.
func (a *Adapter) Person(_ context.Context, u bot.User) (string, error) {
	for _, p := range a.cfg.People {
		if p.Slack != "" && p.Slack == u.ID {
			return p.Name, nil
		}
	}
	if u.Email != "" {
		for _, p := range a.cfg.People {
			if p.Slack == "" && p.Email != "" && strings.EqualFold(p.Email, u.Email) {
				return p.Name, nil
			}
		}
	}
	return "", approvals.ErrUnknownPerson
}

// MayRequest implements bot.Access.
func (a *Adapter) MayRequest(ctx context.Context, u bot.User) (bool, error) {
	if u.Restricted {
		return false, nil
	}
	if len(a.cfg.Requesters) == 0 {
		return true, nil
	}
	return a.listed(ctx, u.ID, a.cfg.Requesters)
}

// MayApprove implements bot.Access.
func (a *Adapter) MayApprove(ctx context.Context, u bot.User) (bool, error) {
	if u.Restricted {
		return false, nil
	}
	return a.listed(ctx, u.ID, a.cfg.Approvers)
}

// slackID returns the Slack user id of p: its people: entry, or the account
// Slack has for its e-mail.
func (a *Adapter) slackID(ctx context.Context, p approvals.Person) (string, bool, error) {
	if p.Slack != "" {
		return p.Slack, true, nil
	}
	if p.Email == "" {
		return "", false, nil
	}
	u, err := a.users.get("email:"+strings.ToLower(p.Email), func() (slack.User, error) {
		var u *slack.User
		err := a.call(ctx, "users.lookupByEmail", func() error {
			var err error
			u, err = a.api.GetUserByEmailContext(ctx, p.Email)
			return err
		})
		if err != nil {
			var se slack.SlackErrorResponse
			if asSlackError(err, &se) && se.Err == "users_not_found" {
				return slack.User{}, nil
			}
			return slack.User{}, err
		}
		return *u, nil
	})
	if err != nil {
		return "", false, err
	}
	if u.ID == "" || u.Deleted || u.IsBot || u.IsRestricted || u.IsUltraRestricted {
		return "", false, nil
	}
	return u.ID, true, nil
}

// Approvers implements bot.Access: the people whose Slack account is an
// approver, directly or through a user group.
func (a *Adapter) Approvers(ctx context.Context) ([]string, error) {
	var out []string
	for _, p := range a.cfg.People {
		id, ok, err := a.slackID(ctx, p)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		u, err := a.user(ctx, id)
		var se slack.SlackErrorResponse
		if asSlackError(err, &se) && se.Err == "user_not_found" {
			a.log.WarnContext(ctx, "a person's Slack account does not exist; not an approver", "person", p.Name, "slack", id)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("looking up %s: %w", p.Name, err)
		}
		if u.Restricted {
			continue
		}
		yes, err := a.listed(ctx, id, a.cfg.Approvers)
		if err != nil {
			return nil, err
		}
		if yes {
			out = append(out, p.Name)
		}
	}
	return out, nil
}
